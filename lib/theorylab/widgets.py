"""Widgets: live in Jupyter and Colab. On the static site the widget cell's output is removed
(cell tag ``remove-output``) and the chapter shows a static figure of the same sweep instead."""

from __future__ import annotations

from typing import Any, Callable, Mapping


def _control(name: str, spec: Any):
    import ipywidgets as w

    if isinstance(spec, w.Widget):
        return spec
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(s, str) for s in spec):
        return w.Dropdown(options=list(spec), description=name)
    if isinstance(spec, (list, tuple)) and len(spec) == 4:
        lo, hi, step, value = spec
        if all(isinstance(s, int) for s in spec):
            return w.IntSlider(min=lo, max=hi, step=step, value=value, description=name, continuous_update=False)
        return w.FloatSlider(min=lo, max=hi, step=step, value=value, description=name, continuous_update=False)
    if isinstance(spec, (list, tuple)) and spec:
        return w.SelectionSlider(
            options=list(spec), value=spec[len(spec) // 2], description=name, continuous_update=False
        )
    if isinstance(spec, bool):
        return w.Checkbox(value=spec, description=name)
    raise TypeError(
        f"control {name!r}: use (min, max, step, value), a list of values, a list of strings, a bool or a widget"
    )


def explore(fn: Callable[..., Any], controls: Mapping[str, Any]) -> None:
    """Show ``fn(**values)`` under one control per keyword and return the widget.

    ``controls`` maps each keyword to ``(min, max, step, value)`` (a slider), a list of values
    (a selection slider), a list of strings (a dropdown), a bool (a checkbox) or a widget.
    ``fn`` should draw a figure (and call ``plt.show()``) or print. Returns None (the widget is
    displayed), so the cell stores no duplicate widget repr.
    """
    import ipywidgets as w
    from IPython.display import display

    from .progress import batch_mode

    kids = {k: _control(k, v) for k, v in controls.items()}
    if batch_mode():
        # Batch runs (the book's runner, nbval, make) have no one to move a slider, and on the site this cell's
        # output is removed. Call the function once with the controls' values, as the widget would, without
        # opening widget comms: an Output widget's messages can stall nbclient under load.
        fn(**{k: c.value for k, c in kids.items()})
        return
    ui = w.interactive(fn, **kids)
    display(ui)
