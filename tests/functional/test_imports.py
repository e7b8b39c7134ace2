"""The core never loads the UI (or sympy), checked in a fresh interpreter.

The static contract (who may import whom, and when) is ``tests/unit/test_layers.py``;
these probes catch what reading the source cannot, such as a dependency that pulls in
rich by itself.
"""

from pathlib import Path

from nnlab.library import find
from tests.helpers import imports_package, modules_loaded_by

LECTURE = Path(__file__).resolve().parents[1] / "unit" / "symbolic" / "fixtures" / "lecture-2layer.yaml"

CORE = ["nnlab", "nnlab.errors", "nnlab.numfmt", "nnlab.scenario", "nnlab.scenario.expr",
        "nnlab.scenario.model", "nnlab.engine.graph", "nnlab.engine.run", "nnlab.session",
        "nnlab.engine.ops", "nnlab.check", "nnlab.library", "nnlab.cli"]


def test_core_modules_import_neither_textual_rich_nor_sympy():
    mods = modules_loaded_by("\n".join(f"import {m}" for m in CORE))
    assert "nnlab.engine.run" in mods and "numpy" in mods           # the probe did import them
    for heavy in ("textual", "rich", "sympy", "torch", "nnlab.symbolic", "nnlab.tui", "nnlab.render"):
        assert not imports_package(mods, heavy), f"the core imports {heavy}"


def test_check_command_stays_light(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("nnlab: 1\ntitle: t\nvalues: {x: 2.0}\ncompute:\n  - y = sigmoid(x)\nexpect:\n  y: 0.8808\n")
    files = [f, find("mlp-2layer-backprop"), LECTURE]
    code = "from nnlab.cli import main\n" + "".join(f"assert main(['check', {str(p)!r}]) == 0\n" for p in files)
    mods = modules_loaded_by(code)
    assert "nnlab.check" in mods and "nnlab.engine.ops.elementwise" in mods
    for heavy in ("textual", "sympy", "torch", "rich", "nnlab.symbolic", "plotext", "grandalf", "matplotlib",
                  "numpy.random",     # drawn only by what draws: random inits, dropout masks, shuffles
                  "argparse",         # `check FILE` is read without it (nnlab.cli._quick_args)
                  "nnlab.engine.ops.pool", "nnlab.engine.ops.conv"):  # op modules load when used
        assert not imports_package(mods, heavy), f"nnlab check imports {heavy}"


def test_validate_command_stays_light():
    code = ("import contextlib, io\nfrom nnlab.cli import main\nfrom nnlab.library import bundled\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['validate', *map(str, bundled())]) == 0\n")
    mods = modules_loaded_by(code)
    assert "nnlab.engine.train" in mods
    for heavy in ("textual", "sympy", "torch", "rich", "nnlab.symbolic", "plotext", "grandalf", "matplotlib",
                  "argparse"):
        assert not imports_package(mods, heavy), f"nnlab validate imports {heavy}"
