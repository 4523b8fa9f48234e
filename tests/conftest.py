"""Shared pytest setup. Fixture notebooks are data for the runner's tests, not chapters to nbval."""
import os
import sys
from pathlib import Path

collect_ignore_glob = ["fixtures/*"]

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("THEORYLAB_BATCH", "1")
if str(ROOT / "lib") not in sys.path:  # tests also run without the editable install
    sys.path.insert(0, str(ROOT / "lib"))
