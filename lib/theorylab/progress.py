"""Progress bars that show in a live notebook and stay silent in batch runs.

The book's runner, nbval and ``make`` set ``THEORYLAB_BATCH=1``; stored outputs then carry no
progress bars (papermill and static pages would show one line per update).
"""

from __future__ import annotations

import os
from typing import Iterable, Optional


def batch_mode() -> bool:
    return os.environ.get("THEORYLAB_BATCH", "") not in ("", "0")


def progress(iterable: Optional[Iterable] = None, *, total: Optional[int] = None, desc: str = "", **kw):
    """``tqdm.auto.tqdm`` that is disabled in batch mode (and when tqdm is missing)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return iterable if iterable is not None else range(total or 0)
    if iterable is None:
        iterable = range(total or 0)
    return tqdm(iterable, total=total, desc=desc, disable=batch_mode(), leave=False, **kw)
