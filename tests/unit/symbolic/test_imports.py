"""sympy is loaded only when symbolic output is asked for.

That ``nnlab check`` and the core never load it is probed in ``tests/functional/test_imports.py``.
"""

from __future__ import annotations

from tests.helpers import imports_package, modules_loaded_by


def test_the_symbolic_modules_do_import_sympy():
    mods = modules_loaded_by("import nnlab.symbolic.chain")
    assert "sympy" in mods and not imports_package(mods, "textual")
