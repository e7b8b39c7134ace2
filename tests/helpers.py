"""Small helpers for tests: scenarios from YAML text, the CLI in-process, import probes."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import textwrap
from dataclasses import dataclass

from nnlab.check import check_run
from nnlab.engine.run import run_scenario
from nnlab.scenario import loads


def run_yaml(text: str, **kwargs):
    """Load YAML text (dedented) as a scenario and run it."""
    return run_scenario(loads(textwrap.dedent(text), "test.yaml"), **kwargs)


def check_yaml(text: str):
    run = run_yaml(text)
    return check_run(run)


@dataclass(frozen=True)
class CliResult:
    """What one ``nnlab …`` command did: its exit status and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> CliResult:
    """Run ``nnlab ARGS…`` in this process (``nnlab.cli.main``), capturing its output.

    argparse's own exits (``--version``, a usage error) become the return code too.
    """
    from nnlab.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return CliResult(code, out.getvalue(), err.getvalue())


def modules_loaded_by(code: str) -> set[str]:
    """The names in ``sys.modules`` after running ``code`` in a fresh interpreter.

    The probe for import hygiene: the test process itself has loaded everything already.
    """
    probe = code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def imports_package(modules: set[str], package: str) -> bool:
    """True if ``package`` or any of its submodules is in ``modules``."""
    return any(m == package or m.startswith(package + ".") for m in modules)


@contextlib.contextmanager
def cyclic_garbage():
    """Collect what the block leaves in reference cycles: yields a Counter, filled on exit with the
    type names of the objects only the cyclic collector could free (automatic collection paused)."""
    import gc
    from collections import Counter

    found: Counter = Counter()
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds unreachable is kept in gc.garbage to be seen
    try:
        yield found
        gc.collect()
        found.update(type(o).__name__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()
