"""sympy is loaded only when symbolic output is asked for."""

from __future__ import annotations

import subprocess
import sys

from nnlab.library import find
from tests.symbolic.conftest import FIXTURES


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_nnlab_check_does_not_import_sympy():
    for path in (find("mlp-2layer-backprop"), FIXTURES / "lecture-2layer.yaml"):
        mods = _modules_after(f"from nnlab.cli import main\nmain(['check', {str(path)!r}])")
        assert "sympy" not in mods and "nnlab.symbolic" not in mods


def test_the_core_does_not_import_the_symbolic_package():
    mods = _modules_after("import nnlab.session, nnlab.engine.run, nnlab.check, nnlab.cli")
    assert not any(m == "sympy" or m.startswith("nnlab.symbolic") for m in mods)


def test_the_symbolic_modules_do_import_sympy():
    mods = _modules_after("import nnlab.symbolic.chain")
    assert "sympy" in mods
