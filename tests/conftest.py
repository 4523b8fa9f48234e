"""Shared pytest setup. Fixture notebooks are data for the runner's tests, not chapters to nbval."""

import os
import sys
from pathlib import Path

collect_ignore_glob = ["fixtures/*"]

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("THEORYLAB_BATCH", "1")
# one thread per kernel: two 2-thread kernels on 2 cores ran 5x slower (the notebook tests run two at a time)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
if str(ROOT / "lib") not in sys.path:  # tests also run without the editable install
    sys.path.insert(0, str(ROOT / "lib"))


def _retrying_kernel_start():
    """nbval's kernel start goes through the book's one kernel-start helper (retry with a short stagger)."""
    try:
        import nbval.kernel as nbk
    except ImportError:  # nbval is only needed for the notebook tests
        return
    if getattr(nbk.start_new_kernel, "_theorylab_retry", False):
        return
    from theorylab.book.kernels import with_retries

    original = nbk.start_new_kernel

    def start_new_kernel(*args, **kwargs):
        return with_retries(lambda: original(*args, **kwargs), retry_if=lambda e: isinstance(e, RuntimeError))

    start_new_kernel._theorylab_retry = True
    nbk.start_new_kernel = start_new_kernel


_retrying_kernel_start()


# -- the built site, shared by tests/book/test_site.py and tests/book/test_browser.py ---------------
import pytest  # noqa: E402


def _build_site(out: Path) -> Path:
    """Build the site from the stored outputs into ``out`` (warnings are errors); a failure is recorded
    in ``out/build.log`` and ``out/build.rc`` so that every test (on every xdist worker) reports it."""
    import subprocess

    jb = Path(sys.executable).parent / "jupyter-book"
    r = subprocess.run(
        [str(jb), "build", str(ROOT), "-W", "--keep-going", "--path-output", str(out)], capture_output=True, text=True
    )
    (out / "build.log").write_text(r.stdout + r.stderr)
    (out / "build.rc").write_text(str(r.returncode))
    return out


@pytest.fixture(scope="session")
def site(tmp_path_factory, request):
    """The site's ``_build/html``, built ONCE per test run: under pytest-xdist the first worker that asks
    builds it in the run's shared temporary folder while the others wait on a lock."""
    import fcntl

    if getattr(request.config, "workerinput", None) is None:  # no xdist: this process's own folder
        out = _build_site(tmp_path_factory.mktemp("site"))
    else:  # the parent of a worker's basetemp is shared by all workers of this run (and only this run)
        out = tmp_path_factory.getbasetemp().parent / "site"
        out.mkdir(exist_ok=True)
        with open(out.parent / "site.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not (out / "build.rc").exists():
                    _build_site(out)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    rc = int((out / "build.rc").read_text())
    assert rc == 0, "site build failed:\n" + (out / "build.log").read_text()[-4000:]
    return out / "_build" / "html"
