"""Generated pages: the reproduction status page, each part's paper list, and ``_toc.yml``.

Everything comes from ``data/papers.json``, ``data/runs/ci/*.json`` and the chapter files, so
``python -m theorylab.book status`` rewrites them and a test checks that the committed copies are fresh.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional

from .catalog import load_papers
from .paths import PARTS, chapter_notebooks, paper_id

START, END = "<!-- generated:papers:start -->", "<!-- generated:papers:end -->"


def load_runs(root: Path, scale: str = "ci") -> Dict[int, dict]:
    out = {}
    for f in sorted((root / "data" / "runs" / scale).glob("*.json")):
        doc = json.loads(f.read_text())
        out[int(doc["paper"])] = doc
    return out


def chapter_map(root: Path) -> Dict[int, Path]:
    return {paper_id(p): p for p in chapter_notebooks(root)}


def _run_facts(doc: Optional[dict]) -> Dict[str, str]:
    if not doc or not doc.get("runs"):
        return {"claims": "not run", "seconds": "-", "seeds": "-"}
    runs = doc["runs"]
    first = runs.get("0") or next(iter(runs.values()))
    cl = first.get("claims", [])
    npass = sum(c["status"] == "PASS" for c in cl)
    nnot = sum(c["status"] == "NOT REPRODUCED" for c in cl)
    nskip = sum(c["status"] == "SKIPPED" for c in cl)
    nfail = sum(c["status"] == "FAIL" for c in cl)
    claims = f"{npass} reproduced / {nnot} not"
    if nfail:
        claims += f" / {nfail} FAILED"
    if nskip:
        claims += f" ({nskip} full-scale only)"
    ok = sum(r["status"] == "ok" for r in runs.values())
    return {"claims": claims, "seconds": f"{first['seconds']:.0f}", "seeds": f"{ok}/{len(runs)}"}


def _title_cell(p: dict) -> str:
    title = p["title"].replace("|", "/")
    return f"{title} ({p['authors']}, {p['year']}) {{cite:p}}`{p['bibkey']}`"


def status_markdown(root: Path) -> str:
    papers = load_papers(root)
    runs = load_runs(root)
    chapters = chapter_map(root)
    n_ch = sum(p["id"] in chapters for p in papers)
    tot_rep = tot_not = 0
    for pid in chapters:
        doc = runs.get(pid)
        if doc and doc.get("runs"):
            first = doc["runs"].get("0") or next(iter(doc["runs"].values()))
            tot_rep += sum(c["status"] == "PASS" for c in first.get("claims", []))
            tot_not += sum(c["status"] == "NOT REPRODUCED" for c in first.get("claims", []))
    lines = [
        "# Reproduction status",
        "",
        "Every paper of the book, its fidelity grade (A: the paper's own experiment at smaller scale; B: its",
        "mechanism on a toy of our design; C: an illustration only), its chapter or *planned*, and what the",
        "book's runner measured at `ci` scale on 2 CPU cores: claims reproduced / declared not reproduced (seed 0),",
        "seconds, and how many of the seeds run passed every checked claim.",
        "This page is generated from `data/` by `python -m theorylab.book status`.",
        "",
        f"**{n_ch} of {len(papers)} papers have a chapter; {tot_rep} claims reproduced, {tot_not} declared not "
        f"reproduced.**",
        "",
    ]
    for num, (slug, name) in PARTS.items():
        part = [p for p in papers if p.get("part_number") == num]
        lines += [
            f"## Part {num}: {name}",
            "",
            "| id | paper | grade | chapter | claims | ci s | seeds passing |",
            "|---|---|---|---|---|---|---|",
        ]
        for p in sorted(part, key=lambda p: p["id"]):
            if p["id"] in chapters:
                rel = chapters[p["id"]].relative_to(root / "chapters").as_posix()
                link = f"[chapter]({rel})"
                f = _run_facts(runs.get(p["id"]))
            else:
                link, f = "planned", {"claims": "-", "seconds": "-", "seeds": "-"}
            lines.append(
                f"| {p['id']} | {_title_cell(p)} | {p['fidelity']} | {link} | {f['claims']} | "
                f"{f['seconds']} | {f['seeds']} |"
            )
        lines.append("")
    return "\n".join(lines)


def part_papers_markdown(root: Path, num: int) -> str:
    papers = [p for p in load_papers(root) if p.get("part_number") == num]
    chapters = chapter_map(root)
    rows = ["| id | paper | grade | chapter |", "|---|---|---|---|"]
    for p in sorted(papers, key=lambda p: p["id"]):
        link = f"[chapter]({chapters[p['id']].name})" if p["id"] in chapters else "planned"
        rows.append(
            f"| {p['id']} | {p['title'].replace('|', '/')} ({p['authors']}, {p['year']}) | {p['fidelity']} | {link} |"
        )
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
        mine = [c for c in chapters if c.parent.name == slug]
        if mine:
            lines.append("        sections:")
            lines += [f"          - file: chapters/{slug}/{c.stem}" for c in mine]
    lines += [
        '  - caption: "The book"',
        "    chapters:",
        "      - file: chapters/status",
        "      - file: chapters/bibliography",
    ]
    return "\n".join(lines) + "\n"


def write_status(root: Path) -> Path:
    for num in PARTS:
        update_part_index(root, num)
    (root / "_toc.yml").write_text(toc_yaml(root))
    path = root / "chapters" / "status.md"
    path.write_text(status_markdown(root) + "\n")
    return path
