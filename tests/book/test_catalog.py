"""The book's records: papers metadata and the bibliography cover all the papers, consistently."""

import re

from conftest import ROOT

from theorylab.book.catalog import EXTRA_MARK, load_papers
from theorylab.book.paths import PARTS


def test_papers_metadata_is_complete():
    papers = load_papers(ROOT)
    assert len(papers) == 137
    ids = [p["id"] for p in papers]
    assert len(set(ids)) == len(ids)
    for p in papers:
        assert p["part_number"] in PARTS, p["id"]
        assert p["fidelity"] in ("A", "B", "C"), p["id"]
        assert p["title"] and p["year"] and p["bibkey"]


def test_bibliography_has_every_paper_once():
    bib = (ROOT / "references.bib").read_text()
    keys = re.findall(r"^@\w+\{([^,]+),", bib, flags=re.M)
    assert len(keys) == len(set(keys))
    generated, _, extra = bib.partition(EXTRA_MARK)
    assert set(re.findall(r"^@\w+\{([^,]+),", generated, flags=re.M)) == {p["bibkey"] for p in load_papers(ROOT)}
    assert not set(re.findall(r"^@\w+\{([^,]+),", extra, flags=re.M)) & {p["bibkey"] for p in load_papers(ROOT)}
