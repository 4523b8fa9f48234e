"""The chapter standard v2, checked on every chapter's stored notebook and records (nothing is executed here).

Opening box, headline claims with controls, verdict, captions, hidden plumbing, one experiment function, short
cells, no words about how the chapter was made, import conventions, and provenance: every run record and
calibration record comes from the committed chapter and library code.
"""

import json
import re

import pytest
from conftest import ROOT

from theorylab.book import deps
from theorylab.book import notebooks as nbt
from theorylab.book.catalog import papers_by_id
from theorylab.book.paths import chapter_notebooks, paper_id
from theorylab.claims import HEADLINE, MAX_HEADLINES, verdict_of

CHAPTERS = chapter_notebooks(ROOT)
IDS = [p.relative_to(ROOT / "chapters").as_posix() for p in CHAPTERS]
PAPERS = papers_by_id(ROOT)
MAX_CELL_LINES = 40
VERDICT_WORDS = {"reproduced": "reproduced", "partly": "partly reproduced", "not reproduced": "not reproduced"}
# How a chapter was made is not the reader's business (the words are matched case-insensitively).
PROCESS_WORDS = [
    r"could not (?:be )?read",
    r"not (?:be )?readable",
    r"available text",
    r"\bdigests?\b",
    r"\bcatalog(?:ue)?\b",
    r"\bsessions?\b",
    r"\bhelpers?\b",
    r"earlier versions?",
    r"research notes?",
    r"\bwe (?:could not|did not|were unable to) (?:read|access|see)",
    r"\bdev(?:elopment)? log",
    r"\blead developer",
]
ALLOWED_ALIASES = {"adversarial": "adv", "diffusion": "dfn"}


@pytest.fixture(params=CHAPTERS, ids=IDS)
def chapter(request):
    return request.param, nbt.read(request.param)


def _record(path):
    f = ROOT / "data" / "runs" / "ci" / f"{paper_id(path):03d}.json"
    assert f.is_file(), f"no run record {f.relative_to(ROOT)}: run `make calibrate CH={paper_id(path)}`"
    return json.loads(f.read_text())


def _calibration(path):
    f = ROOT / "data" / "calibration" / f"{paper_id(path):03d}.json"
    assert f.is_file(), f"no calibration record {f.relative_to(ROOT)}: run `make calibrate CH={paper_id(path)}`"
    return json.loads(f.read_text())


# -- claims and verdict ------------------------------------------------------------------------------------------
def test_headline_claims_with_controls(chapter):
    path, nb = chapter
    records = nbt.claims_records(nb) or []
    heads = [r for r in records if r.get("role") == HEADLINE]
    assert 1 <= len(heads) <= MAX_HEADLINES, f"{path.name}: 1-{MAX_HEADLINES} headline claims, found {len(heads)}"
    for h in heads:
        if h["status"] == "SKIPPED":
            continue
        assert h.get("control"), f"{path.name}: headline {h['name']!r} has no control"
        assert not h.get("control_passed"), f"{path.name}: the control of {h['name']!r} passes its rule"


def test_opening_box(chapter):
    path, nb = chapter
    first = nb["cells"][0]
    text = nbt.source(first)
    assert "opening" in nbt.tags(first), "the first cell is the opening (tag `opening`)"
    assert text.startswith("# "), "the opening starts with the title"
    for part in (":::{admonition} In short", "**Claim.**", "**Why it matters.**", "**Verdict at `ci`:**", "**Grade**"):
        assert part in text, f"{path.name}: the opening box lacks {part!r}"
    p = PAPERS[paper_id(path)]
    grade = re.search(r"\*\*Grade\*\* \[([ABC])\]\(\.\./grades\.md[^)]*\)", text)
    assert grade, f"{path.name}: the grade links to ../grades.md"
    assert grade.group(1) == p["fidelity"], (
        f"{path.name}: grade {grade.group(1)} but data/papers.json says {p['fidelity']}"
    )
    if p.get("arxiv"):
        assert f"https://arxiv.org/abs/{p['arxiv']}" in text, f"{path.name}: the opening links to arXiv {p['arxiv']}"
    if p.get("official_code"):
        assert p["official_code"].split("/tree/")[0].lower() in text.lower(), f"{path.name}: link the official code"
    else:
        assert "none released" in text.lower(), f"{path.name}: say the official code is none released"
    assert nbt.colab_url(ROOT, path) in text, f"{path.name}: the opening links to its own Colab notebook"
    said = re.search(r"\*\*Verdict at `ci`:\*\* \*\*([a-z ]+)\*\*", text)
    assert said, f"{path.name}: write the verdict as **Verdict at `ci`:** **<verdict>**"
    stored = verdict_of(nbt.claims_records(nb) or [])
    assert said.group(1) == VERDICT_WORDS.get(stored, stored), (
        f"{path.name}: the opening says {said.group(1)!r}, the stored run's headlines give {stored!r}"
    )


def test_verdict_matches_records(chapter):
    path, nb = chapter
    cal = _calibration(path)
    assert cal["verdict"] == verdict_of(nbt.claims_records(nb) or []), "stored notebook and calibration disagree"


# -- reading ----------------------------------------------------------------------------------------------------
def test_figures_are_captioned_in_order(chapter):
    path, nb = chapter
    cells = nb["cells"]
    n_seen = 0
    for i, c in enumerate(cells):
        if c["cell_type"] != "code" or "remove-output" in nbt.tags(c):
            continue
        if not any("image/png" in o.get("data", {}) for o in c.get("outputs", [])):
            continue
        nxt = next((cells[j] for j in range(i + 1, len(cells)) if cells[j]["cell_type"] == "markdown"), None)
        assert nxt is not None, f"{path.name}: a figure at the end without caption"
        m = re.match(r"\s*\*\*Figure (\d+)\.\*\*", nbt.source(nxt))
        assert m, f"{path.name}: the figure of cell {i} is not followed by a '**Figure N.** takeaway' caption"
        assert int(m.group(1)) == n_seen + 1, f"{path.name}: figures numbered out of order at cell {i}"
        n_seen += 1
    assert n_seen >= 1, f"{path.name}: no captioned figure"
    text = "\n".join(nbt.source(c) for c in cells if c["cell_type"] == "markdown")
    assert not re.search(r"^#+ Figures\s*$", text, flags=re.M), "figures follow their experiments, no dump"


def test_plumbing_is_hidden_and_cells_are_short(chapter):
    path, nb = chapter
    for c in nbt.code_cells(nb):
        tags, src = nbt.tags(c), nbt.source(c)
        if nbt.SETUP_TAG in tags:
            continue
        n = len(src.strip().splitlines())
        assert n <= MAX_CELL_LINES, f"{path.name}: a code cell of {n} lines (max {MAX_CELL_LINES}): {src[:60]!r}"
        plots = "plt.show()" in src or "subplots(" in src
        if plots and "explore(" not in src and "def " not in src:
            assert "hide-input" in tags or "remove-input" in tags, (
                f"{path.name}: plotting cell not hidden: {src[:60]!r}"
            )
    env_cell = next(c for c in nbt.code_cells(nb) if "tl.setup(" in nbt.source(c))
    assert "hide-input" in nbt.tags(env_cell), f"{path.name}: the environment cell is tagged hide-input"


def test_one_experiment_function_drives_the_widget(chapter):
    path, nb = chapter
    code = [nbt.source(c) for c in nbt.code_cells(nb)]
    assert any(re.search(r"^def experiment\(", s, flags=re.M) for s in code), f"{path.name}: define experiment(...)"
    widget = next(s for s in code if "explore(" in s)
    assert "experiment(" in widget, f"{path.name}: the widget recomputes through experiment(...)"


def test_takeaways_and_exercises(chapter):
    path, nb = chapter
    text = "\n".join(nbt.source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert re.search(r"^## Takeaways", text, flags=re.M), f"{path.name}: a Takeaways section"
    assert re.search(r"^## Try this", text, flags=re.M), f"{path.name}: a Try this section"


def test_no_words_about_how_the_chapter_was_made(chapter):
    path, nb = chapter
    text = "\n".join(nbt.source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    text += "\n".join(line for c in nbt.code_cells(nb) for line in nbt.source(c).splitlines() if "#" in line)
    for pat in PROCESS_WORDS:
        m = re.search(pat, text, flags=re.I)
        assert not m, f"{path.name}: process words reach the reader: {text[max(0, m.start() - 60) : m.end() + 40]!r}"


def test_import_conventions(chapter):
    path, nb = chapter
    code = "\n".join(nbt.source(c) for c in nbt.code_cells(nb))
    for mod, alias in re.findall(r"from theorylab import (\w+) as (\w+)", code):
        assert ALLOWED_ALIASES.get(mod) == alias, f"{path.name}: import {mod} under its own name (or tl.{mod})"
    own = PAPERS[paper_id(path)]["bibkey"]
    for mod in re.findall(r"from theorylab\.papers import (\w+)", code):
        assert mod == own, f"{path.name}: imports another chapter's paper module {mod}"


# -- provenance -------------------------------------------------------------------------------------------------
def test_every_record_comes_from_the_committed_chapter(chapter):
    path, _ = chapter
    rec = _record(path)
    code, lib = deps.code_hash(path), deps.lib_hash(ROOT, path)
    stale = [s for s, r in rec["runs"].items() if r.get("code_hash") != code or r.get("lib_hash") != lib]
    assert not stale, (
        f"{path.name}: seeds {stale} of data/runs/ci were run on other code (chapter or theorylab): "
        f"run `make calibrate CH={paper_id(path)}` again"
    )


def test_calibration_record(chapter):
    path, _ = chapter
    cal = _calibration(path)
    assert (cal["code_hash"], cal["lib_hash"]) == (deps.code_hash(path), deps.lib_hash(ROOT, path)), "stale calibration"
    assert cal["ok"], f"{path.name}: calibration flagged: " + "; ".join(
        f"{r['name']}: {', '.join(r['flags'])}" for r in cal["claims"] if r.get("flags")
    )
    assert cal["calibration_pass"] == 10 and cal["heldout_pass"] == 10
