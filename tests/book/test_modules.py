"""theorylab is shaped by use: shared modules have two or more chapter users, paper modules exactly one (their own),
and the generated module map is fresh."""

import pytest
from conftest import ROOT

from theorylab.book import deps, status
from theorylab.book.catalog import papers_by_id
from theorylab.book.paths import chapter_notebooks

USED = deps.module_map(ROOT, chapter_notebooks(ROOT))
PKG = deps.package_dir(ROOT)
SHARED = sorted(
    f"theorylab.{p.stem}"
    for p in PKG.glob("*.py")
    if p.stem != "__init__" and status.module_kind(f"theorylab.{p.stem}") == "shared"
)
PAPER = sorted(f"theorylab.papers.{p.stem}" for p in (PKG / "papers").glob("*.py") if p.stem != "__init__")


def test_module_map_is_fresh():
    assert (PKG / "MODULES.md").read_text() == status.module_map_markdown(ROOT), "run `make status` and commit"


@pytest.mark.parametrize("module", SHARED)
def test_shared_module_has_two_chapter_users(module):
    users = USED.get(module, [])
    assert len(users) >= 2, (
        f"{module} is used by chapters {users}: a shared module needs two users; move single-chapter code to "
        "theorylab.papers.<bibkey>"
    )


@pytest.mark.parametrize("module", PAPER)
def test_paper_module_serves_its_own_chapter_only(module):
    key = module.rsplit(".", 1)[1]
    owners = [pid for pid, p in papers_by_id(ROOT).items() if p["bibkey"] == key]
    assert owners, f"{module}: a paper module is named by its paper's bibkey (data/papers.json)"
    assert USED.get(module, []) == owners, f"{module} is imported by chapters {USED.get(module)}, not {owners} alone"


def test_lib_hash_ignores_documentation_but_not_code():
    from theorylab.book.deps import _code_only

    base = 'def f(x):\n    """Double."""\n    return 2 * x  # twice\n'
    assert _code_only(base) == _code_only('def f(x):\n    """Twice x, documented anew."""\n\n    return 2*x\n')
    assert _code_only(base) == _code_only("def f(x):\n    return 2 * x\n")
    assert _code_only(base) != _code_only('def f(x):\n    """Double."""\n    return 3 * x\n')


def test_every_module_loads_as_an_attribute():
    """`tl.<module>` works for every module of the package, and only for those."""
    import theorylab as tl

    assert tl._LAZY == {p.stem for p in PKG.glob("*.py") if p.stem != "__init__"} | {"papers"}
