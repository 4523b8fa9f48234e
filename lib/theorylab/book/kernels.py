"""Starting Jupyter kernels reliably: one helper for the runner and for nbval.

Parallel workers (the runner's processes, pytest-xdist's workers) that start kernels at the same instant can
race for the same ports; the loser dies before replying to ``kernel_info``. Such a start is retried with a short,
growing, per-process stagger; a chapter's own errors are never retried.
"""

from __future__ import annotations

import os
import time
from typing import Callable, TypeVar

T = TypeVar("T")
TRIES = 3


def is_start_failure(exc: BaseException) -> bool:
    """A kernel that died or never answered at start (not an error raised by the chapter's code)."""
    text = f"{type(exc).__name__}: {exc}"
    return any(s in text for s in ("kernel_info", "Address already in use", "ZMQError", "Kernel died before"))


def with_retries(
    start: Callable[[], T],
    *,
    retry_if: Callable[[BaseException], bool] = is_start_failure,
    tries: int = TRIES,
    sleep=time.sleep,
) -> T:
    """``start()``, retried up to ``tries`` times while it fails with a kernel-start failure."""
    for attempt in range(tries):
        try:
            return start()
        except Exception as exc:  # noqa: BLE001 - filtered by retry_if
            if attempt + 1 == tries or not retry_if(exc):
                raise
            sleep(0.5 + attempt + (os.getpid() % 7) / 10)  # stagger the racing workers apart
    raise AssertionError("unreachable")  # pragma: no cover
