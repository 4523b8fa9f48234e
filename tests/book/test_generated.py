"""Generated files (status page, part tables, _toc.yml) are what the generator writes from data/ now."""

from conftest import ROOT

from theorylab.book import status
from theorylab.book.paths import PARTS

HOW = "regenerate with `make status` (python -m theorylab.book status) and commit"


def test_status_page_is_fresh():
    assert (ROOT / "chapters" / "status.md").read_text() == status.status_markdown(ROOT) + "\n", HOW


def test_toc_is_fresh():
    assert (ROOT / "_toc.yml").read_text() == status.toc_yaml(ROOT), HOW


def test_part_tables_are_fresh():
    for num, (slug, _) in PARTS.items():
        text = (ROOT / "chapters" / slug / "index.md").read_text()
        assert status.part_papers_markdown(ROOT, num) in text, f"part {num}: {HOW}"


def test_status_page_lists_every_paper():
    text = (ROOT / "chapters" / "status.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| id")]
    assert len(rows) == 137
