"""The lab's import rules: Textual only inside nnlab.tui, no NumPy before the first frame."""

from __future__ import annotations

import subprocess
import sys

CORE = ["nnlab.cli", "nnlab.session", "nnlab.check", "nnlab.scenario.model", "nnlab.numfmt",
        "nnlab.library", "nnlab.tui.model", "nnlab.tui.answers", "nnlab.tui.recent"]


def imported(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_core_and_the_model_adapter_do_not_import_textual():
    for module in CORE:
        assert "textual" not in imported(module), module


def test_the_app_module_imports_neither_numpy_nor_sympy_nor_the_engine():
    mods = imported("nnlab.tui.app")
    assert "textual" in mods
    for heavy in ("numpy", "sympy", "nnlab.engine", "yaml"):
        assert heavy not in mods, heavy


def test_the_lab_screen_module_is_light_too():
    mods = imported("nnlab.tui.screens.lab")
    assert "numpy" not in mods and "nnlab.engine" not in mods
