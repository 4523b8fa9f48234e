"""Generated pages: the reproduction status page, each part's paper list, and ``_toc.yml``.

Everything comes from ``data/papers.json``, ``data/runs/ci/*.json`` and the chapter files, so
``python -m theorylab.book status`` rewrites them and a test checks that the committed copies are fresh.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

from ..claims import verdict_of
from .catalog import load_papers
from .paths import PARTS, chapter_notebooks, paper_id

START, END = "<!-- generated:papers:start -->", "<!-- generated:papers:end -->"


def load_runs(root: Path, scale: str = "ci") -> Dict[int, dict]:
    out = {}
    for f in sorted((root / "data" / "runs" / scale).glob("*.json")):
        doc = json.loads(f.read_text())
        out[int(doc["paper"])] = doc
    return out


def load_calibrations(root: Path) -> Dict[int, dict]:
    out = {}
    for f in sorted((root / "data" / "calibration").glob("*.json")):
        doc = json.loads(f.read_text())
        out[int(doc["paper"])] = doc
    return out


def chapter_map(root: Path) -> Dict[int, Path]:
    return {paper_id(p): p for p in chapter_notebooks(root)}


def chapter_order(root: Path) -> Dict[int, tuple]:
    """Sort key of each paper inside its part: the ``order`` field of ``data/papers.json`` (the part's story),
    then the id; papers without a chapter come last."""
    chapters = chapter_map(root)
    return {p["id"]: (p["id"] not in chapters, p.get("order", 10_000), p["id"]) for p in load_papers(root)}


VERDICT_TEXT = {
    "reproduced": "reproduced",
    "partly": "partly reproduced",
    "not reproduced": "not reproduced",
    "not tested at this scale": "not tested at ci",
}


def _counts(claims: List[dict], role: str) -> tuple:
    mine = [c for c in claims if c.get("role", "supporting") == role and c["status"] != "SKIPPED"]
    return sum(c["status"] == "PASS" for c in mine), len(mine)


def run_facts(doc: Optional[dict], cal: Optional[dict] = None) -> Dict[str, str]:
    """What the status page shows of a chapter's stored run at one scale (seed 0) and its calibration."""
    if not doc or not doc.get("runs"):
        return {"verdict": "not run", "headline": "-", "supporting": "-", "seconds": "-", "heldout": "-", "gpu": "-"}
    runs = doc["runs"]
    first = runs.get("0") or next(iter(runs.values()))
    claims = first.get("claims", [])
    h_ok, h_n = _counts(claims, "headline")
    s_ok, s_n = _counts(claims, "supporting")
    verdict = VERDICT_TEXT[verdict_of(claims)] if first["status"] == "ok" else "FAILED"
    if first["status"] == "ok" and not any(c.get("role") == "headline" for c in claims):
        verdict = "no headline claims yet (standard v1)"
    if cal:
        heldout = f"{cal['heldout_pass']}/{len(cal['heldout_seeds'])}"
    else:
        heldout = "-"
    return {
        "verdict": verdict,
        "headline": f"{h_ok}/{h_n}" if h_n else "-",
        "supporting": f"{s_ok}/{s_n}" if s_n else "-",
        "seconds": f"{first['seconds']:.0f}",
        "heldout": heldout,
        "gpu": first.get("gpu") or first.get("device", "-"),
    }


def _title_cell(p: dict) -> str:
    title = p["title"].replace("|", "/")
    return f"{title} ({p['authors']}, {p['year']}) {{cite:p}}`{p['bibkey']}`"


def _grade(p: dict, prefix: str = "") -> str:
    g = p["fidelity"]
    return f"[{g}]({prefix}grades.md)"


def status_markdown(root: Path) -> str:
    papers = load_papers(root)
    runs, full, cals = load_runs(root), load_runs(root, "full"), load_calibrations(root)
    chapters = chapter_map(root)
    order = chapter_order(root)
    facts = {pid: run_facts(runs.get(pid), cals.get(pid)) for pid in chapters}
    verdicts = [f["verdict"] for f in facts.values()]
    h_ok = h_n = s_ok = s_n = 0
    for pid in chapters:
        doc = runs.get(pid)
        if doc and doc.get("runs"):
            first = doc["runs"].get("0") or next(iter(doc["runs"].values()))
            a, b = _counts(first.get("claims", []), "headline")
            c, d = _counts(first.get("claims", []), "supporting")
            h_ok, h_n, s_ok, s_n = h_ok + a, h_n + b, s_ok + c, s_n + d
    held = [cals[pid] for pid in chapters if pid in cals]
    held_ok = sum(c["heldout_pass"] for c in held)
    held_n = sum(len(c["heldout_seeds"]) for c in held)
    lines = [
        "# Reproduction status",
        "",
        "Every paper of the book: its [grade](grades.md), its chapter or *planned*, and what the book's runner "
        "measured at `ci` scale on 2 CPU cores. The **verdict** comes from the chapter's headline claims (each "
        "tested against a control that implements the rival explanation): *reproduced* when all hold, *partly* "
        "when some do. **Headline** and **supporting** give the claims that hold at seed 0 out of those checked. "
        "**Held-out seeds**: thresholds are calibrated on seeds 0-9; this counts the runs on seeds 10-19 that "
        "pass every checked claim. **Full**: the paper-like scale on one GPU, where it has been run.",
        "This page is generated from `data/` by `python -m theorylab.book status`.",
        "",
        f"**{len(chapters)} of {len(papers)} papers have a chapter. Verdicts at `ci`: "
        f"{verdicts.count('reproduced')} reproduced, {verdicts.count('partly reproduced')} partly reproduced, "
        f"{verdicts.count('not reproduced')} not reproduced"
        + (f", {verdicts.count('FAILED')} failed" if "FAILED" in verdicts else "")
        + f". Headline claims holding: {h_ok} of {h_n}; supporting claims: {s_ok} of {s_n}. "
        f"Held-out seeds passing: {held_ok} of {held_n} runs.**",
        "",
    ]
    for num, (slug, name) in PARTS.items():
        part = sorted((p for p in papers if p.get("part_number") == num), key=lambda p: order[p["id"]])
        lines += [
            f"## Part {num}: {name}",
            "",
            "| id | paper | grade | chapter | verdict (ci) | headline | supporting | held-out seeds | ci s | full |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for p in part:
            if p["id"] in chapters:
                rel = chapters[p["id"]].relative_to(root / "chapters").as_posix()
                link = f"[chapter]({rel})"
                f = facts[p["id"]]
                fu = run_facts(full.get(p["id"]))
                full_cell = "-" if fu["verdict"] == "not run" else f"{fu['verdict']}, {fu['seconds']} s, {fu['gpu']}"
            else:
                link = "planned"
                f = {k: "-" for k in ("verdict", "headline", "supporting", "heldout", "seconds")}
                full_cell = "-"
            lines.append(
                f"| {p['id']} | {_title_cell(p)} | {_grade(p)} | {link} | {f['verdict']} | {f['headline']} | "
                f"{f['supporting']} | {f['heldout']} | {f['seconds']} | {full_cell} |"
            )
        lines.append("")
    return "\n".join(lines)


def part_papers_markdown(root: Path, num: int) -> str:
    """The part's table, in the order of its story: chapter, one-line finding, verdict, grade; then planned."""
    papers = [p for p in load_papers(root) if p.get("part_number") == num]
    chapters = chapter_map(root)
    order = chapter_order(root)
    runs, cals = load_runs(root), load_calibrations(root)
    rows = ["| | chapter | finding | verdict (ci) | grade |", "|---|---|---|---|---|"]
    k = 0
    for p in sorted(papers, key=lambda p: order[p["id"]]):
        title = f"{p['title'].replace('|', '/')} ({p['authors']}, {p['year']})"
        if p["id"] in chapters:
            k += 1
            star = " **start here**" if p.get("start_here") else ""
            f = run_facts(runs.get(p["id"]), cals.get(p["id"]))
            rows.append(
                f"| {k} | [{title}]({chapters[p['id']].name}){star} | {p.get('finding', '')} | {f['verdict']} | "
                f"{_grade(p, '../')} |"
            )
        else:
            rows.append(f"| | {title} | *planned* | | {_grade(p, '../')} |")
    return "\n".join(rows)


def update_part_index(root: Path, num: int) -> Path:
    slug, name = PARTS[num]
    path = root / "chapters" / slug / "index.md"
    text = path.read_text() if path.exists() else f"# Part {num}: {name}\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        raise ValueError(f"{path} lacks the generated-table markers {START} / {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{part_papers_markdown(root, num)}\n{END}{tail}")
    return path


def toc_yaml(root: Path) -> str:
    chapters = chapter_notebooks(root)
    lines = [
        "# Generated by `python -m theorylab.book status` from the chapter files: do not edit by hand.",
        "format: jb-book",
        "root: chapters/intro",
        "parts:",
    ]
    for num, (slug, name) in PARTS.items():
        lines += [f'  - caption: "Part {num}: {name}"', "    chapters:", f"      - file: chapters/{slug}/index"]
        order = chapter_order(root)
        mine = sorted((c for c in chapters if c.parent.name == slug), key=lambda c: order[paper_id(c)])
        if mine:
            lines.append("        sections:")
            lines += [f"          - file: chapters/{slug}/{c.stem}" for c in mine]
    lines += [
        '  - caption: "The book"',
        "    chapters:",
        "      - file: chapters/status",
        "      - file: chapters/grades",
        "      - file: chapters/notation",
        "      - file: chapters/bibliography",
    ]
    return "\n".join(lines) + "\n"


CORE = ("theorylab.claims", "theorylab.env", "theorylab.plotting", "theorylab.progress", "theorylab.widgets")


def module_kind(name: str) -> str:
    if name == "theorylab" or name in CORE:
        return "core"
    if name.startswith("theorylab.papers."):
        return "paper"
    return "shared"


def module_map_markdown(root: Path) -> str:
    """``lib/theorylab/MODULES.md``: every module of the package, its kind, size and the chapters that use it."""
    from . import deps

    used = deps.module_map(root, chapter_notebooks(root))
    pkg = deps.package_dir(root)
    lines = [
        "# theorylab: modules and the chapters that use them",
        "",
        "Generated by `python -m theorylab.book status` from the chapters' imports: do not edit by hand. **Core**:",
        "every chapter's environment, claims, plots and widgets. **Shared**: building blocks used by two or more",
        "chapters (a test fails below two). **Paper**: code for one chapter, named by the paper's bibkey (a test",
        "fails when another chapter imports it). `theorylab.book` is the book's tooling, not imported by chapters.",
        "",
        "| module | kind | lines | chapters |",
        "|---|---|---|---|",
    ]
    files = sorted(p for p in pkg.rglob("*.py") if "book" not in p.relative_to(pkg).parts)
    for f in files:
        rel = f.relative_to(pkg.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        if name == "theorylab.papers":
            continue
        n_lines = len(f.read_text().splitlines())
        users = used.get(name, [])
        who = "all (through `import theorylab`)" if module_kind(name) == "core" else ", ".join(map(str, users)) or "-"
        lines.append(f"| `{name}` | {module_kind(name)} | {n_lines} | {who} |")
    return "\n".join(lines) + "\n"


def write_status(root: Path) -> Path:
    (root / "lib" / "theorylab" / "MODULES.md").write_text(module_map_markdown(root))
    for num in PARTS:
        update_part_index(root, num)
    (root / "_toc.yml").write_text(toc_yaml(root))
    path = root / "chapters" / "status.md"
    path.write_text(status_markdown(root) + "\n")
    return path
