"""The site builds from stored outputs with warnings as errors, and every chapter links to Colab at its path."""
import subprocess
import sys
from pathlib import Path

import pytest

from theorylab.book import notebooks as nbt
from theorylab.book.paths import chapter_notebooks

from conftest import ROOT


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    jb = Path(sys.executable).parent / "jupyter-book"
    r = subprocess.run([str(jb), "build", str(ROOT), "-W", "--keep-going", "--path-output", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, "site build failed:\n" + (r.stdout + r.stderr)[-4000:]
    return out / "_build" / "html"


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
        assert "find_spec(&quot;theorylab&quot;)" not in html and "Installing theorylab" not in html, "the setup cell is hidden on the site"


def test_status_and_bibliography_pages(site):
    status = (site / "chapters" / "status.html").read_text()
    assert status.count("<tr") >= 137 + 12
    bib = (site / "chapters" / "bibliography.html").read_text()
    assert "Transformers learn in-context by gradient descent" in bib
