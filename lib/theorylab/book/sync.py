"""Keep every chapter's Colab setup cell identical and pointing at ``_config.yml``'s repository."""

from __future__ import annotations

from pathlib import Path
from typing import List

from . import notebooks as nbt
from .paths import chapter_notebooks


def template_notebooks(root: Path) -> List[Path]:
    return sorted((root / "chapters" / "_template").glob("*.ipynb"))


def sync_all(root: Path) -> List[Path]:
    repo = nbt.repository(root)
    changed = []
    for path in chapter_notebooks(root) + template_notebooks(root):
        nb = nbt.read(path)
        if nbt.sync_setup_cell(nb, repo["url"], repo["branch"]):
            nbt.write(path, nb)
            changed.append(path)
    return changed
