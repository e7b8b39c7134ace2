"""Review of the speed commits 19c1040..acd4f86 (shape fallback from one parse, weak replay, gc
thresholds, normal draws, answer fast path): the bugs found (now fixed; each test failed before its fix) and guards of
the behaviour the commits had to keep (checked against 19c1040 by running both trees)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnlab import cli, limits
from nnlab.engine.shapes import SHAPES_ONLY
from nnlab.engine.train import train
from nnlab.errors import NnlabError
from nnlab.scenario import expr, loads
from nnlab.session import open_session
from tests.helpers import cyclic_garbage, run_cli

ROOT = Path(__file__).resolve().parents[2]

# Small inputs whose product (25 elements) is over the file's own limit (options.max_elements: 20)
OUTER = """\
nnlab: 1
title: outer
values:
  a: {shape: [5, 1]}
  b: {shape: [1, 5]}
compute:
  - Y = a @ b
options: {max_elements: 20}
expect:
  shape(Y): [5, 5]
"""


@pytest.fixture(autouse=True)
def _default_budget():
    yield
    limits.set_memory_budget(None)  # run_cli("--max-memory", …) sets it for the whole process


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# ------------------------------------------- the bugs found (fixed in aeb39b3 and after)


def test_run_answers_a_shape_question_over_the_files_own_limit_from_shapes(tmp_path):
    f = _write(tmp_path, "outer.yaml", OUTER)
    run = run_cli("run", f)
    assert run.returncode == 0, run.stderr
    assert f"1 step · {SHAPES_ONLY}\n" in run.stdout


def test_open_session_falls_back_to_shapes_under_the_files_own_limit(tmp_path):
    f = _write(tmp_path, "outer.yaml", OUTER)
    session = open_session(f)
    assert session.scenario.shape_only and session.check().ok


def test_validate_reads_a_result_over_the_files_own_limit_as_run_does(tmp_path):
    f = _write(tmp_path, "outer.yaml", OUTER)
    valid = run_cli("validate", f)
    assert valid.returncode == 0 and valid.stdout.endswith(": OK (1 step)\n"), valid.stderr


TRAIN = """\
nnlab: 1
title: line
values:
  w: {shape: [2], init: normal, seed: 1}
data:
  x: [[0, 0], [0, 1], [1, 0], [1, 1]]
  y: [0, 1, 1, 0]
learn: [w]
compute:
  - z = w @ x
  - loss = (z - y) ** 2
train: {rule: gd, loss: loss, lr: 0.1, epochs: 4, batch: 1, order: sequential}
"""


def test_snapshots_kept_without_their_training_say_so():
    """972b4ed: the snapshots replay through their training weakly (no cycle); kept alone they
    cannot replay an update between checkpoints, and say why instead of a TypeError."""
    with_training = train(loads(TRAIN, "t.yaml"), checkpoint_every=8)
    full = train(loads(TRAIN, "t.yaml"), checkpoint_every=1).snapshots[5]["w"].copy()
    assert np.array_equal(with_training.snapshots[5]["w"], full)
    snaps = train(loads(TRAIN, "t.yaml"), checkpoint_every=8).snapshots  # the Training itself is dropped
    assert np.array_equal(snaps[0]["w"], with_training.snapshots[0]["w"])  # a checkpoint needs no replay
    with pytest.raises(RuntimeError, match="keep the Training"):
        snaps[5]


def test_validate_of_a_broken_yaml_file_leaves_no_cyclic_garbage(tmp_path):
    f = _write(tmp_path, "broken.yaml", "nnlab: 1\ntitle: t\nvalues: {a: [1, 2]\n" + "# padding\n" * 1000)
    quiet = contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO())
    with quiet[0], quiet[1]:
        cli.cmd_validate([f], None)  # imports what the error path needs
    with cyclic_garbage() as found, contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        assert cli.cmd_validate([f], None) == 2
    assert not found, f"cycles left by validate of a broken file: {sorted(found)}"


# ------------------------------------------------------------------ guards (pass, as 19c1040)

SPECS_OVER = """\
nnlab: 1
title: elements
values:
  A: {shape: [100], init: ones}
  B: {shape: [3], init: INIT}
compute:
  - Y = A * 2
options: {max_elements: 50}
expect:
  ASK
"""


@pytest.mark.parametrize("init, ask, code, out", [
    ("zeros", "shape(Y): [100]", 0, f"1 step · {SHAPES_ONLY}\n"),                       # refused → shapes
    ("zeros", "sum(Y): 200", 2, "4:6: error: 'A' has 100 elements, over the limit of 50"),  # not a shape question
    ("gaussian", "shape(Y): [100]", 2, "5:25: error: unknown init 'gaussian' for 'B'"),     # later error, as before
    ("zeros", "error: shape", 2, "4:6: error: 'A' has 100 elements, over the limit of 50"),  # an error question
])
def test_the_one_parse_fallback_decides_as_the_old_retry(tmp_path, init, ask, code, out):
    f = _write(tmp_path, "s.yaml", SPECS_OVER.replace("INIT", init).replace("ASK", ask))
    for command in ("run", "validate"):
        got = run_cli(command, f)
        assert got.returncode == code
        if code == 0 and command == "validate":
            assert got.stdout.endswith(": OK (1 step)\n")
        else:
            assert out in (got.stdout if code == 0 else got.stderr)


def test_a_literal_refused_by_the_budget_after_a_spec_falls_back_to_shapes(tmp_path):
    text = ("nnlab: 1\ntitle: t\nvalues:\n  A: {shape: [300, 300], init: normal}\n  c: [[1, 2], [3, 4]]\n"
            "compute:\n  - Y = A @ A\nexpect:\n  shape(Y): [300, 300]\n")
    f = _write(tmp_path, "s.yaml", text)
    got = run_cli("run", "--max-memory", "700K", f)  # A alone (703 KiB) is over: the full read refuses it
    assert got.returncode == 0 and f"1 step · {SHAPES_ONLY}\n" in got.stdout


def test_data_and_values_in_one_file_keep_their_errors(tmp_path):
    clash = ("nnlab: 1\ntitle: t\nvalues:\n  X: {shape: [100], init: ones}\ndata:\n  X: {shape: [4, 100], init: ones}\n"
             "compute:\n  - Y = X * 2\noptions: {max_elements: 50}\nexpect:\n  shape(Y): [100]\n")
    with pytest.raises(NnlabError, match="'X' is defined in both values and data") as err:
        loads(clash, "t.yaml", shapes_fallback=True)
    assert (err.value.loc.line, err.value.loc.col) == (6, 3)
    over = ("nnlab: 1\ntitle: t\nvalues:\n  A: {shape: [10], init: ones}\n  c: [1, 2, 3, 4, 5, 6]\n"
            "compute:\n  - Y = A * 2\noptions: {max_elements: 5}\nexpect:\n  shape(Y): [10]\n")
    with pytest.raises(NnlabError, match="'c' has 6 elements, over the limit of 5") as err:
        loads(over, "t.yaml", shapes_fallback=True)  # a literal is refused in a shape read too
    assert (err.value.loc.line, err.value.loc.col) == (5, 6)


@pytest.mark.parametrize("shape", [[1], [3, 4], [2, 3, 5]])
def test_normal_specs_are_rng_normal_bit_for_bit(shape):
    for seed in (0, 1, 7):
        for scale in (1, 0, -2.5, 0.5, -1):
            spec = f"{{shape: {shape}, init: normal, seed: {seed}, scale: {scale}}}"
            text = f"nnlab: 1\ntitle: t\nvalues:\n  A: {spec}\ncompute:\n  - Y = A * 1\n"
            got = loads(text, "t.yaml").values["A"].array
            want = np.random.default_rng(seed).normal(size=shape)
            if scale != 1:
                want *= scale
            assert got.tobytes() == want.tobytes(), (seed, scale)  # signed zeros included


ANSWERS = ["0.25", " -0.25 ", "[0.1, 0.2]", "(5, 7)", "()", "5x7", "1 +", ")", "1 2", "e", "e2", "2*e", "exp(1)",
           "sigmoid(2) - 1", "grad(W)[0]", "epoch(1).loss", "x.T", "[1, [2", "1e3", "1_000", "'a'", "a.b(", "10 ** -2"]


def test_the_answer_fast_path_reads_as_the_notation_path(monkeypatch):
    def read(text):
        try:
            return repr(expr.parse_answer(text))
        except NnlabError as exc:
            return repr((exc.message, exc.hint, exc.loc))

    fast = [read(t) for t in ANSWERS]
    monkeypatch.setattr(expr, "_normalize", expr._replace_notation)  # every answer through the patterns
    assert [read(t) for t in ANSWERS] == fast


def test_a_console_command_prints_everything_before_it_exits():
    """The console script freezes its objects at exit (no last collection): all output still arrives."""
    files = [str(ROOT / "scenarios" / name) for name in ("attention-causal.yaml", "attention-masked.yaml")]
    done = subprocess.run([sys.executable, "-m", "nnlab", "validate", *files, "missing.yaml"],
                          capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.returncode == 2
    assert len(done.stdout.splitlines()) == 2 and all(": OK (" in line for line in done.stdout.splitlines())
    assert "missing.yaml" in done.stderr
