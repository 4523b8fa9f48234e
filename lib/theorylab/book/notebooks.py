"""Reading, cleaning and syncing chapter notebooks (JSON only; nothing is executed here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, Optional

SETUP_TAG = "setup"  # first code cell: installs theorylab where it is missing
PROVENANCE_TAG = "provenance"  # markdown cell the runner rewrites with the stored run's facts
CLAIMS_MARK = "NBVAL_CHECK_OUTPUT"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def read(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def write(path: Path, nb: dict) -> None:
    Path(path).write_text(json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n")


def source(cell: dict) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def set_source(cell: dict, text: str) -> None:
    lines = text.splitlines(keepends=True)
    cell["source"] = lines


def tags(cell: dict) -> List[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def cells_tagged(nb: dict, tag: str) -> List[dict]:
    return [c for c in nb["cells"] if tag in tags(c)]


def code_cells(nb: dict) -> List[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


# -- the repository URL and the setup cell ---------------------------------------------------
def repository(root: Path) -> Dict[str, str]:
    """``url`` and ``branch`` of the book's repository, read from ``_config.yml``."""
    import yaml

    cfg = yaml.safe_load((root / "_config.yml").read_text())
    repo = cfg.get("repository", {})
    url = str(repo.get("url", "")).rstrip("/")
    if not re.match(r"^https://github\.com/[^/]+/[^/]+$", url):
        raise ValueError(f"_config.yml repository.url must be https://github.com/<org>/<repo>; got {url!r}")
    return {"url": url, "branch": str(repo.get("branch", "main")), "path_to_book": str(repo.get("path_to_book", ""))}


def setup_cell_source(url: str, branch: str) -> str:
    """The first code cell of every chapter; written so that ``ruff format`` and ``ruff check`` leave it as is."""
    return (
        "# Setup: install this book's shared package `theorylab` when it is missing (Colab, Kaggle, Binder or any\n"
        "# Jupyter server). In a local checkout or the book's runner it is already installed and this does nothing.\n"
        "import importlib.util\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if importlib.util.find_spec("theorylab") is None:\n'
        f'    url = "{url}"\n'
        f'    print(f"Installing theorylab from {{url}} ({branch}); PyTorch is not touched.")\n'
        f'    pip = [sys.executable, "-m", "pip", "install", "-q", f"theorylab @ git+{{url}}.git@{branch}"]\n'
        "    subprocess.run(pip, check=True)"  # no newline at the end: ruff format strips it in notebooks
    )


def colab_url(root: Path, notebook: Path) -> str:
    repo = repository(root)
    rel = Path(notebook).resolve().relative_to(root.resolve()).as_posix()
    org_repo = repo["url"].split("github.com/", 1)[1]
    return f"https://colab.research.google.com/github/{org_repo}/blob/{repo['branch']}/{rel}"


def sync_setup_cell(nb: dict, url: str, branch: str) -> bool:
    """Make the first code cell the canonical setup cell (tags ``setup``, ``remove-cell``).

    Returns True when the notebook changed."""
    want = setup_cell_source(url, branch)
    first = code_cells(nb)[0] if code_cells(nb) else None
    if first is None or SETUP_TAG not in tags(first):
        raise ValueError("the first code cell of a chapter must be the setup cell (tag 'setup')")
    changed = source(first) != want
    set_source(first, want)
    md = first.setdefault("metadata", {})
    for t in ("remove-cell",):
        if t not in md.setdefault("tags", []):
            md["tags"].append(t)
            changed = True
    return changed


# -- cleaning ------------------------------------------------------------------------------
def clean(nb: dict, *, drop_injected: bool = True) -> dict:
    """Strip what makes re-runs differ: execution timestamps, papermill metadata, widget state and
    widget views, and (for stored canonical runs) papermill's injected-parameters cell."""
    nb.get("metadata", {}).pop("widgets", None)
    nb.get("metadata", {}).pop("papermill", None)
    nb.get("metadata", {}).pop("execution", None)
    kept = []
    for cell in nb["cells"]:
        if drop_injected and "injected-parameters" in tags(cell):
            continue
        md = cell.setdefault("metadata", {})
        for k in ("execution", "papermill", "ExecuteTime", "collapsed", "scrolled"):
            md.pop(k, None)
        cell.pop("id", None) if nb.get("nbformat_minor", 0) < 5 else None
        if cell["cell_type"] == "code":
            outs = []
            for o in cell.get("outputs", []):
                data = o.get("data", {})
                if WIDGET_MIME in data:
                    continue  # a live widget's view: meaningless without a kernel
                o.get("metadata", {}).pop("execution", None)
                outs.append(o)
            cell["outputs"] = outs
        kept.append(cell)
    # renumber execution counts so that a dropped cell leaves no gap
    n = 0
    for cell in kept:
        if cell["cell_type"] == "code":
            if cell.get("execution_count") is not None:
                n += 1
                cell["execution_count"] = n
                for o in cell["outputs"]:
                    if "execution_count" in o:
                        o["execution_count"] = n
    nb["cells"] = kept
    return nb


def set_provenance(nb: dict, text: str) -> bool:
    cells = cells_tagged(nb, PROVENANCE_TAG)
    if not cells:
        return False
    set_source(cells[0], text)
    return True


def claims_records(nb: dict) -> Optional[List[dict]]:
    """The claims the claims cell attached to its output metadata (None if it never ran)."""
    from ..claims import METADATA_KEY

    for cell in code_cells(nb):
        for o in cell.get("outputs", []):
            md = o.get("metadata", {})
            if METADATA_KEY in md:
                return md[METADATA_KEY]
    return None


def error_cell(nb: dict):
    """``(index, cell)`` of the first cell with an error output, counting cells as the chapter has them
    (papermill's injected-parameters and error-marker cells are not counted); None if none."""
    i = 0
    for cell in nb["cells"]:
        if {"injected-parameters", "papermill-error-cell-tag"} & set(tags(cell)):
            continue
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return i, cell
        i += 1
    return None


def parameters_cell(nb: dict) -> Optional[dict]:
    cells = cells_tagged(nb, "parameters")
    return cells[0] if cells else None
