"""The import contract, read from the source with ``ast`` (nothing under test is imported).

Layers, lowest first; a module may import from its own layer or any layer below::

    0  nnlab, nnlab.errors, nnlab.numfmt, nnlab.limits,
       nnlab.templates, nnlab.library       (stdlib only)
    1  nnlab.scenario
    2  nnlab.engine
    3  nnlab.check, nnlab.diagnosis, nnlab.symbolic
    4  nnlab.session
    5  nnlab.render, nnlab.tui, nnlab.commands, nnlab.export, nnlab.practice, nnlab.cli, nnlab.__main__

This holds for every import, wherever it is written (module level, inside a function,
under ``if TYPE_CHECKING:``). A second rule is about *when*: the core (layers 0–2,
``nnlab.check``, ``nnlab.diagnosis`` and ``nnlab.session``; see ``CORE``) must not load
textual, rich or sympy while it is being imported. Imports inside a function body run
only when the function is called (that is how ``nnlab.symbolic`` is reached lazily) and
``TYPE_CHECKING`` blocks never run, so only module-level imports count — followed
transitively through every nnlab module they load, including the parent packages'
``__init__``. textual and rich are not imported by the core at all, not even in a
function: formatting for a screen is the views' job.

Known violations in files being reworked are listed in ``KNOWN`` and marked
``xfail(strict=True)``, so the test turns red when one is fixed and not removed here.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "nnlab"

LAYERS: list[tuple[str, ...]] = [
    ("nnlab", "nnlab.errors", "nnlab.numfmt", "nnlab.limits", "nnlab.templates", "nnlab.library"),
    ("nnlab.scenario",),
    ("nnlab.engine",),
    ("nnlab.check", "nnlab.diagnosis", "nnlab.symbolic"),
    ("nnlab.session",),
    ("nnlab.render", "nnlab.tui", "nnlab.commands", "nnlab.export", "nnlab.practice", "nnlab.cli", "nnlab.__main__"),
]
#: The core: what ``nnlab check`` and every engine user load; it must not pull in a UI or sympy.
CORE = ("nnlab.errors", "nnlab.numfmt", "nnlab.templates", "nnlab.library", "nnlab.scenario", "nnlab.engine",
        "nnlab.check", "nnlab.diagnosis", "nnlab.session")
HEAVY = ("textual", "rich", "sympy")
UI = ("textual", "rich")  #: not even lazily: the core formats nothing for a screen

#: (rule, module, imported) -> "file:line — why it is allowed to fail for now".
KNOWN: dict[tuple[str, str, str], str] = {}


@dataclass(frozen=True)
class Import:
    """One imported module name as written in a module's source."""

    module: str       #: the importing module
    target: str       #: the imported module (``from a import b`` is ``a.b`` when that is a module)
    line: int
    eager: bool       #: runs while the module is imported (not in a function, not TYPE_CHECKING)

    @property
    def where(self) -> str:
        return f"{module_path(self.module).relative_to(PACKAGE.parent)}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def module_path(name: str) -> Path:
    return modules()[name]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


@cache
def imports_of(module: str) -> tuple[Import, ...]:
    """The imports written in ``module``'s source, each marked eager or not."""
    path = module_path(module)
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, eager: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            eager = False
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, False)
            for child in node.orelse:
                visit(child, eager)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(module, alias.name, node.lineno, eager))
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append(Import(module, sub if sub in modules() else base, node.lineno, eager))
        for child in ast.iter_child_nodes(node):
            visit(child, eager)

    visit(tree, True)
    return tuple(found)


def layer_of(name: str) -> int | None:
    """The layer of an nnlab module: its own entry or its package's (``nnlab`` itself only by name)."""
    best, best_len = None, -1
    for k, names in enumerate(LAYERS):
        for prefix in names:
            inside = name == prefix or (prefix != "nnlab" and name.startswith(prefix + "."))
            if inside and len(prefix) > best_len:
                best, best_len = k, len(prefix)
    return best


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts))]


def eager_closure(module: str) -> dict[str, list[Import]]:
    """Every module loaded by importing ``module``: name -> the chain of imports that loads it."""
    chains: dict[str, list[Import]] = {m: [] for m in [module, *_parents(module)]}
    todo = list(chains)
    while todo:
        current = todo.pop()
        for imp in imports_of(current):
            if not imp.eager:
                continue
            targets = [imp.target] + [p for p in _parents(imp.target) if p in modules()]
            for target in targets:
                if target in chains:
                    continue
                chains[target] = chains[current] + [imp]
                if target in modules():
                    todo.append(target)
    return chains


def is_core(name: str) -> bool:
    return name == "nnlab" or any(name == m or name.startswith(m + ".") for m in CORE)


# ----------------------------------------------------------------------- the findings


def layer_violations() -> list[tuple[str, str, str]]:
    """``(module, imported, where)`` for every import that reaches up a layer."""
    out = []
    for module in modules():
        mine = layer_of(module)
        for imp in imports_of(module):
            if not imp.target.startswith("nnlab"):
                continue
            theirs = layer_of(imp.target)
            if mine is not None and theirs is not None and theirs > mine:
                out.append((module, imp.target, imp.where))
    return out


def heavy_violations() -> list[tuple[str, str, str]]:
    """``(core module, heavy package, import chain)`` for each heavy package a core module loads."""
    out: dict[tuple[str, str], str] = {}
    for module in modules():
        if not is_core(module):
            continue
        for name, chain in eager_closure(module).items():
            top = name.split(".")[0]
            if top in HEAVY and chain:
                out.setdefault((module, top), " -> ".join(f"{i.target} ({i.where})" for i in chain))
    return [(module, top, chain) for (module, top), chain in out.items()]


def ui_imports() -> list[tuple[str, str, str]]:
    """``(core module, UI package, where)`` for each textual/rich import in the core, even in a function."""
    return [(imp.module, imp.target.split(".")[0], imp.where)
            for module in modules() if is_core(module)
            for imp in imports_of(module) if imp.target.split(".")[0] in UI]


def _cases(rule: str, found: list[tuple[str, str, str]]) -> list:
    cases = []
    for module, target, where in found:
        reason = KNOWN.get((rule, module, target))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        cases.append(pytest.param(module, target, where, marks=marks, id=f"{module}->{target}"))
    return cases


# ----------------------------------------------------------------------- the contract


def test_every_module_has_a_layer():
    """A new top-level module or package must be placed in LAYERS (nothing falls under ``nnlab``)."""
    assert len(modules()) > 20
    assert [m for m in modules() if layer_of(m) is None] == []
    assert layer_of("nnlab") == 0 and layer_of("nnlab.newthing") is None
    assert layer_of("nnlab.engine.ops.base") == 2 and layer_of("nnlab.tui.screens.lab") == 5


@pytest.mark.parametrize("module, target, where", _cases("layer", layer_violations()) or
                         [pytest.param(None, None, None, id="none")])
def test_no_module_imports_from_a_layer_above(module, target, where):
    assert module is None, (f"{where}: {module} (layer {layer_of(module)}) imports {target} "
                            f"(layer {layer_of(target)})")


@pytest.mark.parametrize("module, heavy, chain", _cases("heavy", heavy_violations()) or
                         [pytest.param(None, None, None, id="none")])
def test_the_core_loads_no_ui_or_sympy_at_import_time(module, heavy, chain):
    assert module is None, f"importing {module} loads {heavy}: {chain}"


@pytest.mark.parametrize("module, package, where", _cases("ui", ui_imports()) or
                         [pytest.param(None, None, None, id="none")])
def test_the_core_never_imports_the_ui_libraries_even_lazily(module, package, where):
    assert module is None, f"{where}: {module} imports {package}"


def test_known_violations_are_still_found():
    """An entry in KNOWN that matches no finding is stale (a typo, or fixed but still listed)."""
    finders = (("layer", layer_violations), ("heavy", heavy_violations), ("ui", ui_imports))
    found = {(rule, m, t) for rule, finder in finders for m, t, _ in finder()}
    assert set(KNOWN) <= found


# ----------------------------------------------------------------------- the reader itself


def test_the_reader_tells_module_level_from_function_level_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "nnlab"
    (pkg / "engine").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "check.py").write_text("import sympy\n")
    (pkg / "engine" / "__init__.py").write_text("from . import run\n")
    (pkg / "engine" / "run.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import numpy as np\n"
        "if TYPE_CHECKING:\n"
        "    import textual\n"
        "class A:\n"
        "    import rich.text\n"
        "def lazy():\n"
        "    import sympy\n"
        "    from ..check import x\n"
        "try:\n"
        "    from nnlab import session\n"
        "except ImportError:\n"
        "    pass\n")
    (pkg / "session.py").write_text("from .check import y\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    modules.cache_clear()
    imports_of.cache_clear()
    try:
        got = {(i.target, i.line, i.eager) for i in imports_of("nnlab.engine.run")}
        assert got == {("typing", 1, True), ("numpy", 2, True), ("textual", 4, False),
                       ("rich.text", 6, True), ("sympy", 8, False), ("nnlab.check", 9, False),
                       ("nnlab.session", 11, True)}
        assert {i.target for i in imports_of("nnlab.engine")} == {"nnlab.engine.run"}
        assert {(m, t) for m, t, _ in layer_violations()} == {
            ("nnlab.engine.run", "nnlab.check"), ("nnlab.engine.run", "nnlab.session")}
        heavy = {(m, h): chain for m, h, chain in heavy_violations()}
        # rich at class level counts; sympy only through session -> check, both eager
        assert set(heavy) == {("nnlab.engine.run", "rich"), ("nnlab.engine", "rich"),
                              ("nnlab.engine.run", "sympy"), ("nnlab.engine", "sympy"),
                              ("nnlab.check", "sympy"), ("nnlab.session", "sympy")}
        assert heavy[("nnlab.engine", "sympy")] == (
            "nnlab.engine.run (nnlab/engine/__init__.py:1) -> nnlab.session (nnlab/engine/run.py:11) -> "
            "nnlab.check (nnlab/session.py:1) -> sympy (nnlab/check.py:1)")
        # textual under TYPE_CHECKING still counts here: the core has no business naming it at all
        assert {(m, p) for m, p, _ in ui_imports()} == {("nnlab.engine.run", "textual"),
                                                        ("nnlab.engine.run", "rich")}
    finally:
        modules.cache_clear()
        imports_of.cache_clear()
