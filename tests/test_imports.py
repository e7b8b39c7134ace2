"""The core never imports the UI (or sympy); checked in a fresh interpreter."""

import subprocess
import sys

CORE = ["nnlab", "nnlab.errors", "nnlab.numfmt", "nnlab.scenario", "nnlab.scenario.expr",
        "nnlab.scenario.model", "nnlab.engine.graph", "nnlab.engine.run", "nnlab.session",
        "nnlab.engine.ops", "nnlab.check", "nnlab.library", "nnlab.cli"]


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_core_modules_import_neither_textual_rich_nor_sympy():
    mods = _loaded_after("\n".join(f"import {m}" for m in CORE))
    for heavy in ("textual", "rich", "sympy", "torch"):
        assert heavy not in mods, f"core imports {heavy}"


def test_check_command_stays_light(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("nnlab: 1\ntitle: t\nvalues: {x: 2.0}\ncompute:\n  - y = sigmoid(x)\nexpect:\n  y: 0.8808\n")
    code = f"from nnlab.cli import main\nmain(['check', {str(f)!r}])"
    mods = _loaded_after(code)
    for heavy in ("textual", "sympy", "torch", "rich"):
        assert heavy not in mods, f"nnlab check imports {heavy}"
