"""Each page lists each script once.

Sphinx 7.4 adds an inline script registered after the builder starts twice to every page (``prepare_writing``
re-adds the registry's files); sphinx-thebe's inline ``const THEBE_JS_URL = ...`` then throws "Identifier has
already been declared" in the browser's console. This drops the repeats from the page context.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        # the same file or inline body (no file: None or ""), whatever its priority
        key = (str(getattr(js, "filename", js) or ""), repr(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept


def setup(app):
    app.connect("html-page-context", _dedupe, priority=1)  # first: a later handler may end the event
    return {"parallel_read_safe": True, "parallel_write_safe": True}
