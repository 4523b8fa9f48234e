"""Where things are in a checkout of the book."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

PARTS = {
    1: ("01-in-context-learning", "In-context learning"),
    2: ("02-transformer-training", "Transformer training dynamics"),
    3: ("03-optimization", "Optimization and implicit bias"),
    4: ("04-generalization", "Generalization and feature learning"),
    5: ("05-representation", "Representation and self-supervised learning"),
    6: ("06-generative", "Diffusion and generative models"),
    7: ("07-continual", "Continual, multi-task and model merging"),
    8: ("08-symmetry", "Permutations, sets and symmetry"),
    9: ("09-robustness", "Robustness, fairness and privacy"),
    10: ("10-data-efficiency", "Data efficiency and training recipes"),
    11: ("11-efficient-architectures", "Efficient fine-tuning and architectures"),
    12: ("12-decision-multimodal", "Decision making and multimodal systems"),
}


def find_root(start: Optional[Path] = None) -> Path:
    """The book's root: the nearest folder upwards holding ``_config.yml`` and ``chapters/``."""
    here = Path(start or Path.cwd()).resolve()
    for p in [here, *here.parents]:
        if (p / "_config.yml").is_file() and (p / "chapters").is_dir():
            return p
    raise FileNotFoundError(f"no book checkout (a folder with _config.yml and chapters/) above {here}")


def chapter_notebooks(root: Path):
    """Every chapter notebook (``chapters/<part>/<id>-<slug>.ipynb``), sorted."""
    return sorted(p for p in (root / "chapters").glob("[0-9][0-9]-*/*.ipynb") if not p.name.startswith("_"))


def paper_id(notebook: Path) -> int:
    """A chapter's file name starts with its catalog id: ``21-icl-by-gd.ipynb`` -> 21."""
    head = notebook.name.split("-", 1)[0]
    if not head.isdigit():
        raise ValueError(f"chapter file name must start with its paper id: {notebook}")
    return int(head)
