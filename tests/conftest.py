"""Shared pytest setup. Fixture notebooks are data for the runner's tests, not chapters to nbval."""
import os
import sys
from pathlib import Path

collect_ignore_glob = ["fixtures/*"]

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("THEORYLAB_BATCH", "1")
if str(ROOT / "lib") not in sys.path:  # tests also run without the editable install
    sys.path.insert(0, str(ROOT / "lib"))


def _retrying_kernel_start():
    """Two pytest-xdist workers starting Jupyter kernels at the same moment can race for the same ports;
    the loser dies before replying to kernel_info and nbval errors every cell of that notebook. Retry the
    start (a fresh kernel, fresh ports) a few times before giving up."""
    try:
        import nbval.kernel as nbk
    except ImportError:  # nbval is only needed for the notebook tests
        return
    if getattr(nbk.start_new_kernel, "_theorylab_retry", False):
        return
    original = nbk.start_new_kernel

    def start_new_kernel(*args, **kwargs):
        import time

        for attempt in range(3):
            try:
                return original(*args, **kwargs)
            except RuntimeError:
                if attempt == 2:
                    raise
                time.sleep(1.0 + attempt)

    start_new_kernel._theorylab_retry = True
    nbk.start_new_kernel = start_new_kernel


_retrying_kernel_start()
