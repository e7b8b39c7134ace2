"""The lab's import rules: Textual only inside nnlab.tui, no NumPy before the first frame."""

from __future__ import annotations

from tests.helpers import imports_package, modules_loaded_by

#: Modules outside the widgets: the core and the lab's model adapter. One interpreter imports
#: them all, so if textual is not among the modules loaded, none of them loaded it.
NO_TEXTUAL = ["nnlab.cli", "nnlab.session", "nnlab.check", "nnlab.scenario.model", "nnlab.numfmt",
              "nnlab.library", "nnlab.tui.model", "nnlab.tui.answers", "nnlab.tui.recent"]


def test_core_and_the_model_adapter_do_not_import_textual():
    mods = modules_loaded_by("\n".join(f"import {m}" for m in NO_TEXTUAL))
    assert "nnlab.tui.model" in mods
    assert not imports_package(mods, "textual")


def test_the_app_and_lab_screen_modules_import_neither_numpy_nor_sympy_nor_the_engine():
    mods = modules_loaded_by("import nnlab.tui.app, nnlab.tui.screens.lab")
    assert "textual" in mods and "nnlab.tui.screens.lab" in mods
    for heavy in ("numpy", "sympy", "nnlab.engine", "yaml"):
        assert not imports_package(mods, heavy), heavy
