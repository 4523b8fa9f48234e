"""Hygiene of every chapter notebook (JSON only: nbval executes them; this reads what is stored)."""

import json
import re

import nbformat
import pytest
from conftest import ROOT

from theorylab.book import notebooks as nbt
from theorylab.book.catalog import papers_by_id
from theorylab.book.paths import chapter_notebooks, paper_id

CHAPTERS = chapter_notebooks(ROOT)
IDS = [p.relative_to(ROOT / "chapters").as_posix() for p in CHAPTERS]
BIBKEYS = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "references.bib").read_text(), flags=re.M))


def first_index(nb, pred):
    for i, c in enumerate(nb["cells"]):
        if pred(c):
            return i
    return None


@pytest.fixture(params=CHAPTERS, ids=IDS)
def chapter(request):
    path = request.param
    return path, nbt.read(path)


def test_there_are_chapters():
    assert CHAPTERS, "no chapter notebooks found"


def test_valid_notebook_and_size(chapter):
    path, nb = chapter
    nbformat.validate(nbformat.reads(json.dumps(nb), as_version=4))
    assert path.stat().st_size < 1_000_000, f"{path.name}: keep chapters under 1 MB"
    assert paper_id(path) in papers_by_id(ROOT), f"{path.name}: file name must start with a catalog id"


def test_anatomy_in_order(chapter):
    path, nb = chapter
    cells = nb["cells"]
    src = [nbt.source(c) for c in cells]
    assert cells[0]["cell_type"] == "markdown" and src[0].startswith("# "), "title first"
    key = papers_by_id(ROOT)[paper_id(path)]["bibkey"]
    assert f"`{key}`" in src[0], f"the first cell cites the chapter's paper ({key})"
    order = {
        "provenance": first_index(nb, lambda c: nbt.PROVENANCE_TAG in nbt.tags(c)),
        "setup": first_index(nb, lambda c: nbt.SETUP_TAG in nbt.tags(c)),
        "parameters": first_index(nb, lambda c: "parameters" in nbt.tags(c)),
        "environment": first_index(nb, lambda c: c["cell_type"] == "code" and "tl.setup(" in nbt.source(c)),
        "claims": first_index(nb, lambda c: c["cell_type"] == "code" and nbt.CLAIMS_MARK in nbt.source(c)),
        "explore": first_index(nb, lambda c: c["cell_type"] == "code" and "explore(" in nbt.source(c)),
        "what we ran": first_index(
            nb, lambda c: c["cell_type"] == "markdown" and "what we ran vs. the paper" in nbt.source(c).lower()
        ),
        "references": first_index(
            nb, lambda c: c["cell_type"] == "markdown" and re.search(r"^#+ References", nbt.source(c), flags=re.M)
        ),
    }
    missing = [k for k, v in order.items() if v is None]
    assert not missing, f"{path.name}: missing {missing}"
    idx = list(order.values())
    assert idx == sorted(idx), f"{path.name}: sections out of order: {order}"
    assert nbt.code_cells(nb)[0] is cells[order["setup"]], "the setup cell is the first code cell"
    assert "remove-output" in nbt.tags(cells[order["explore"]]), "the widget cell is tagged remove-output"


def test_parameters_cell(chapter):
    import papermill as pm

    path, _ = chapter
    params = pm.inspect_notebook(str(path))
    assert params["scale"]["default"] == '"ci"'
    assert params["seed"]["default"] == "0"
    assert params["device"]["default"] == '"auto"'


def test_setup_cell_matches_config(chapter):
    path, nb = chapter
    repo = nbt.repository(ROOT)
    setup = nbt.code_cells(nb)[0]
    assert nbt.source(setup) == nbt.setup_cell_source(repo["url"], repo["branch"]), (
        "run `make sync` (python -m theorylab.book sync)"
    )
    assert "remove-cell" in nbt.tags(setup)


def test_stored_outputs_are_clean(chapter):
    path, nb = chapter
    code = nbt.code_cells(nb)
    assert any(c.get("outputs") for c in code), "stored without outputs: run `make chapter CH=<id>`"
    assert "widgets" not in nb.get("metadata", {}), "widget state stored"
    assert "papermill" not in nb.get("metadata", {}), "papermill metadata stored"
    for c in code:
        assert "execution" not in c.get("metadata", {}), "execution timestamps stored"
        assert "injected-parameters" not in nbt.tags(c)
        for o in c.get("outputs", []):
            assert o["output_type"] != "error", f"error output stored in a cell: {nbt.source(c)[:80]!r}"
            assert nbt.WIDGET_MIME not in o.get("data", {}), "widget view stored"
            if o["output_type"] == "stream":
                assert o["name"] != "stderr" or not o["text"], f"stderr stored: {''.join(o['text'])[:200]}"
    prov = nbt.source(nbt.cells_tagged(nb, nbt.PROVENANCE_TAG)[0])
    assert "Stored outputs: scale `ci`" in prov, "provenance line is written by the runner (--store)"


def test_claims_cell_stored_passing(chapter):
    path, nb = chapter
    records = nbt.claims_records(nb)
    assert records, "the claims cell's output carries the claims (run it through the runner)"
    assert all(r["status"] != "FAIL" for r in records)
    run = json.loads((ROOT / "data" / "runs" / "ci" / f"{paper_id(path):03d}.json").read_text())
    assert run["runs"]["0"]["status"] == "ok", "data/runs has the seed-0 ci record"


def test_citations_exist(chapter):
    path, nb = chapter
    text = "\n".join(nbt.source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    for group in re.findall(r"\{cite(?::[pt])?\}`([^`]+)`", text):
        for key in group.split(","):
            assert key.strip() in BIBKEYS, f"unknown citation {key!r}"
