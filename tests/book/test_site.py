"""The site builds from stored outputs with warnings as errors, and every chapter links to Colab at its path.
The site is built once per test run by the ``site`` fixture in tests/conftest.py (tests/book/test_browser.py
opens the same build in a real browser)."""

import re

from conftest import ROOT

from theorylab.book import notebooks as nbt
from theorylab.book.paths import chapter_notebooks


def test_every_chapter_page_links_to_colab_at_its_own_path(site):
    chapters = chapter_notebooks(ROOT)
    assert chapters
    for nb in chapters:
        rel = nb.relative_to(ROOT).with_suffix(".html")
        page = site / rel
        assert page.is_file(), f"no page for {rel}"
        html = page.read_text()
        assert nbt.colab_url(ROOT, nb) in html, f"{rel}: no Colab link to its own notebook"
        assert "Stored outputs: scale" in html
        assert "find_spec(&quot;theorylab&quot;)" not in html and "Installing theorylab" not in html, (
            "the setup cell is hidden on the site"
        )


def test_status_and_bibliography_pages(site):
    status = (site / "chapters" / "status.html").read_text()
    assert status.count("<tr") >= 137 + 12
    bib = (site / "chapters" / "bibliography.html").read_text()
    assert "Transformers learn in-context by gradient descent" in bib


def test_pages_load_nothing_from_the_network(site):
    """MathJax is served from the site itself (sphinx-mathjax-offline): no page loads a script or a
    stylesheet from another host, so math renders offline."""
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()
    for page in sorted(site.rglob("*.html")):
        html = page.read_text()
        remote = re.findall(r'<(?:script|link)[^>]*(?:src|href)="(https?://[^"]*\.(?:js|css)[^"]*)"', html)
        assert not remote, f"{page.relative_to(site)} loads {remote}"
    intro = (site / "chapters" / "intro.html").read_text()
    assert 'rel="icon" href="../_static/favicon.png"' in intro
    assert 'src="../_static/logo.svg"' in intro
    assert (
        '<link rel="canonical" href="https://theorylab-book.github.io/dl-theory-executed/chapters/intro.html"' in intro
    )
