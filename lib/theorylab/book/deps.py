"""Which ``theorylab`` modules a chapter uses, and the hashes that key its runs.

Read statically (nothing is imported or executed): a chapter's code cells name modules with ``import
theorylab as tl`` / ``tl.<module>``, ``from theorylab import <module>``, ``from theorylab.<module> import ...``
or ``from theorylab.papers import <paper>``; each module's own imports are followed transitively.

- ``code_hash``: the chapter's code cells (the setup cell excluded: it only installs the package).
- ``lib_hash``: the code of every ``theorylab`` module the chapter uses, read as a syntax tree without docstrings,
  comments or formatting: editing documentation does not make any run stale, editing code does.
A run record stores both; a record whose hashes differ from the committed chapter is stale.
"""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path
from typing import Dict, Iterable, List, Set

from . import notebooks as nbt

PKG = "theorylab"


def package_dir(root: Path) -> Path:
    return root / "lib" / PKG


def _module_file(pkg: Path, dotted: str) -> Path | None:
    """``theorylab.papers.saxe2014exact`` -> its file (module or package ``__init__``), or None."""
    parts = dotted.split(".")[1:]
    base = pkg.joinpath(*parts) if parts else pkg
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _strip_magics(code: str) -> str:
    return "\n".join("" if re.match(r"\s*[%!]", line) else line for line in code.splitlines())


def _imports(tree: ast.AST, current: str, is_package: bool) -> tuple[Set[str], Set[str]]:
    """(dotted names imported, aliases bound to a theorylab module) of one parsed source."""
    names: Set[str] = set()
    aliases: Dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == PKG or a.name.startswith(PKG + "."):
                    names.add(a.name)
                    aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else PKG
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = current.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod == PKG or mod.startswith(PKG + "."):
                names.add(mod)
                for a in node.names:
                    names.add(f"{mod}.{a.name}")  # kept only if it is a module
                    aliases[a.asname or a.name] = f"{mod}.{a.name}"
    for node in ast.walk(tree):  # tl.<module> attribute access
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            names.add(f"{aliases[node.value.id]}.{node.attr}")
    return names, set(aliases)


def _closure(pkg: Path, start: Iterable[str]) -> List[str]:
    seen: Dict[str, Path] = {}
    todo = [PKG, *start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        f = _module_file(pkg, name)
        if f is None:
            continue
        seen[name] = f
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        found, _ = _imports(ast.parse(f.read_text()), name, f.name == "__init__.py")
        todo += [n for n in found if n not in seen]
    return sorted(seen)


def chapter_modules(root: Path, notebook: Path) -> List[str]:
    """Every ``theorylab`` module (dotted) the chapter's code uses, directly or through other modules."""
    nb = nbt.read(notebook)
    code = "\n".join(_strip_magics(nbt.source(c)) for c in nbt.code_cells(nb) if nbt.SETUP_TAG not in nbt.tags(c))
    names, _ = _imports(ast.parse(code), "__main__", False)
    return [m for m in _closure(package_dir(root), names) if not m.startswith(f"{PKG}.book")]


def direct_modules(root: Path, notebook: Path) -> List[str]:
    """The ``theorylab`` modules the chapter names itself (not those reached through other modules)."""
    nb = nbt.read(notebook)
    code = "\n".join(_strip_magics(nbt.source(c)) for c in nbt.code_cells(nb) if nbt.SETUP_TAG not in nbt.tags(c))
    names, _ = _imports(ast.parse(code), "__main__", False)
    pkg = package_dir(root)
    return sorted(n for n in names if _module_file(pkg, n) is not None and n != PKG)


def _sha(chunks: Iterable[str]) -> str:
    h = hashlib.sha256()
    for c in chunks:
        h.update(c.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def code_hash(notebook: Path) -> str:
    nb = nbt.read(notebook)
    return _sha(nbt.source(c) for c in nbt.code_cells(nb) if nbt.SETUP_TAG not in nbt.tags(c))


def _code_only(source: str) -> str:
    """A module's code as a normalised syntax tree: docstrings, comments and layout do not count."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def lib_hash(root: Path, notebook: Path) -> str:
    pkg = package_dir(root)
    chunks = []
    for m in chapter_modules(root, notebook):
        f = _module_file(pkg, m)
        chunks += [m, _code_only(f.read_text())]
    return _sha(chunks)


def module_map(root: Path, notebooks: Iterable[Path]) -> Dict[str, List[int]]:
    """Module -> ids of the chapters that name it directly."""
    from .paths import paper_id

    out: Dict[str, List[int]] = {}
    for nb in notebooks:
        for m in direct_modules(root, nb):
            out.setdefault(m, []).append(paper_id(nb))
    return {k: sorted(v) for k, v in sorted(out.items())}
