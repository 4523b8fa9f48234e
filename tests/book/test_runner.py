"""The runner on a tiny book of fixture chapters: parallel runs, records, failures, bad input."""

import json
import shutil
import subprocess
import sys

import nbformat
import pytest
from conftest import ROOT

from theorylab.book import notebooks as nbt
from theorylab.book.runner import RunnerError, run, select

PARAMS = 'scale = "ci"\nseed = 0\ndevice = "auto"\n'


def make_chapter(path, claim_code):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A fixture chapter"),
        nbformat.v4.new_markdown_cell("*provenance*", metadata={"tags": ["provenance"]}),
        nbformat.v4.new_code_cell("print('setup')", metadata={"tags": ["setup", "remove-cell"]}),
        nbformat.v4.new_code_cell(PARAMS, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import theorylab as tl\nenv = tl.setup(scale=scale, seed=seed, device=device, style=False)\nprint(env)"
        ),
        nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nclaims = tl.Claims()\n" + claim_code + "\nclaims.report()"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    root = tmp_path_factory.mktemp("book")
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    part = root / "chapters" / "01-in-context-learning"
    make_chapter(part / "901-passes.ipynb", 'claims.check("seed is small", seed, "<=", 100)')
    make_chapter(part / "902-fails.ipynb", 'claims.check("impossible", 1.0, "<=", 0.0)')
    return root


def test_select(book):
    assert [p.name for p in select(book, ["all"])] == ["901-passes.ipynb", "902-fails.ipynb"]
    assert [p.name for p in select(book, ["902"])] == ["902-fails.ipynb"]
    assert len(select(book, ["part1"])) == 2 and select(book, ["part2"]) == []
    with pytest.raises(RunnerError, match="no chapter for paper id 5"):
        select(book, ["5"])
    with pytest.raises(RunnerError, match="unknown target"):
        select(book, ["bogus"])


def test_bad_input_is_rejected_before_running(book):
    with pytest.raises(RunnerError, match="scale must be one of 'ci', 'full'; got 'huge'"):
        run(book, scale="huge", echo=lambda *a: None)
    with pytest.raises(RunnerError, match="device must be one of"):
        run(book, device="tpu", echo=lambda *a: None)
    with pytest.raises(RunnerError, match=r"unknown parameter\(s\) steps; this chapter takes device, scale, seed"):
        run(book, params={"steps": 3}, echo=lambda *a: None)


def test_failing_chapter_is_reported_and_others_keep_results(book):
    lines = []
    results = run(book, ["all"], seeds=[0, 1], workers=2, store=True, echo=lines.append)
    by = {(r.paper, r.seed): r for r in results}
    assert all(by[(901, s)].status == "ok" for s in (0, 1))
    bad = by[(902, 0)]
    assert bad.status == "error" and bad.error["ename"] == "ClaimFailure"
    assert "NBVAL_CHECK_OUTPUT" in bad.error["cell_source"] and bad.error["cell"] is not None
    assert "impossible" in bad.error["evalue"]
    # the failed claim is still recorded with its measured value
    assert bad.claims and bad.claims[0]["status"] == "FAIL" and bad.claims[0]["value"] == 1.0
    text = "\n".join(lines)
    assert "902-fails.ipynb" in text and "ClaimFailure" in text
    # records: one file per chapter, one entry per seed, for the failing chapter too
    rec = json.loads((book / "data" / "runs" / "ci" / "901.json").read_text())
    assert sorted(rec["runs"]) == ["0", "1"] and rec["runs"]["1"]["claims"][0]["status"] == "PASS"
    for k in ("seconds", "device", "commit", "date", "status"):
        assert k in rec["runs"]["0"]
    assert json.loads((book / "data" / "runs" / "ci" / "902.json").read_text())["runs"]["0"]["status"] == "error"
    # --store wrote the passing chapter back cleaned, with provenance; the failing one is untouched
    stored = nbt.read(book / "chapters" / "01-in-context-learning" / "901-passes.ipynb")
    assert "Stored outputs: scale `ci`" in nbt.source(nbt.cells_tagged(stored, "provenance")[0])
    assert not nbt.cells_tagged(stored, "injected-parameters")
    assert "papermill" not in stored["metadata"]
    failing = nbt.read(book / "chapters" / "01-in-context-learning" / "902-fails.ipynb")
    assert not any(c.get("outputs") for c in nbt.code_cells(failing))


def test_cli_exit_status_and_papermill_bad_scale(book):
    cli = [sys.executable, "-m", "theorylab.book", "run"]
    r = subprocess.run(cli + ["901", "-p", "steps=3"], cwd=book, capture_output=True, text=True)
    assert r.returncode == 2 and "unknown parameter(s) steps" in r.stderr
    r = subprocess.run(cli + ["901", "--scale", "huge"], cwd=book, capture_output=True, text=True)
    assert r.returncode == 2 and "scale must be one of 'ci', 'full'; got 'huge'" in r.stderr
    nb = book / "chapters" / "01-in-context-learning" / "901-passes.ipynb"
    r = subprocess.run(
        [sys.executable, "-m", "papermill", str(nb), str(book / "out.ipynb"), "-p", "scale", "huge"],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "scale must be one of 'ci', 'full'; got 'huge'" in r.stdout + r.stderr


def test_kernel_start_failures_are_recognised_and_retried():
    from theorylab.book.kernels import is_start_failure, with_retries

    assert is_start_failure(RuntimeError("Kernel died before replying to kernel_info"))
    assert is_start_failure(OSError("Address already in use (addr='tcp://127.0.0.1:5')"))
    assert not is_start_failure(ValueError("scale must be one of 'ci', 'full'; got 'huge'"))
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("Kernel died before replying to kernel_info")
        return "started"

    assert with_retries(flaky, sleep=lambda s: None) == "started" and len(calls) == 3
    with pytest.raises(ValueError):
        with_retries(lambda: (_ for _ in ()).throw(ValueError("a chapter error")), sleep=lambda s: None)
