"""Hostile arguments to the newer commands (practice, graph, plot, export, serve): a one-line reason, never a traceback.

All cases run in one child process (in-process ``nnlab.cli.main`` through the corpus runner's
:func:`~tests.functional.hostile.runner.run_one`) under a time limit, so a hang fails the test
instead of stalling the suite. Each case names the exit code and the text its first line of
standard error must hold. The regressions below them are the defects this search found.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest

from nnlab.cli import main
from tests.functional.hostile.pool import ROOT

SCENARIO = str(ROOT / "scenarios" / "attention-causal.yaml")   # 7 steps, no training
TRAINING = str(ROOT / "scenarios" / "train-mlp-xor-gd.yaml")   # 2000 updates
BIG = str(10**30)


def cases(tmp: Path) -> list[tuple[list[str], int, str]]:
    """(argv, exit code, text of the first line of standard error)."""
    return [
        (["practice", "no-such-topic"], 2, "unknown practice topic 'no-such-topic'"),
        (["practice", "../../etc/passwd"], 2, "unknown practice topic"),
        (["practice", "backprop", "--seed", "-1", "--out", f"{tmp}/a.yaml"], 0, ""),
        (["practice", "backprop", "--seed", BIG, "--out", f"{tmp}/b.yaml"], 0, ""),
        (["practice", "backprop", "--sheet", "0", "--out", f"{tmp}/c.md"], 2, "--sheet takes 1 to 100 exercises, not 0"),
        (["practice", "backprop", "--sheet", str(10**9), "--out", f"{tmp}/d.md"], 2, "--sheet takes 1 to 100"),
        (["practice", "backprop", "--out", str(tmp)], 2, "exists already: nothing written"),
        (["practice", "backprop", "--out", "/dev/full"], 2, "/dev/full exists already: nothing written"),
        (["practice", "backprop", "--out", f"{tmp}/missing/x.yaml"], 2, "No such file or directory"),
        (["graph", SCENARIO, "--step", "0"], 2, "--step 0: attention-causal.yaml has steps 1 to 7"),
        (["graph", SCENARIO, "--step", "-1"], 2, "--step -1: attention-causal.yaml has steps 1 to 7"),
        (["graph", SCENARIO, "--step", BIG], 2, f"--step {BIG}: attention-causal.yaml has steps 1 to 7"),
        (["graph", SCENARIO, "--digits", "-5"], 2, "--digits -5: use 0 to 30"),
        (["graph", str(tmp)], 2, "is a directory, not a scenario file"),
        (["plot", SCENARIO, "nonsense", "--update", "-5"], 2, "usage: nnlab plot"),
        (["plot", TRAINING, "loss", "--update", "-5"], 2, "--update -5: training made 2000 update(s)"),
        (["plot", TRAINING, "loss", "--update", BIG], 2, "training made 2000 update(s)"),
        (["plot", SCENARIO, "loss", "--update", "3"], 2, "--update: this scenario does not train"),
        (["plot", TRAINING, "loss", "--width", BIG], 2, "use a width of 20 to 400"),
        (["export", SCENARIO, "--to", "pdf"], 2, "usage: nnlab export"),
        (["export", SCENARIO, "--to", "md", "--out", "/dev/full"], 2, "cannot write /dev/full: No space left on device"),
        (["export", SCENARIO, "--to", "html", "--out", "/dev/full"], 2, "cannot write /dev/full: No space left"),
        (["export", SCENARIO, "--to", "md", "--out", str(tmp)], 2, "Is a directory"),
        (["export", SCENARIO, "--to", "md", "--out", f"{tmp}/missing/x.md"], 2, "No such file or directory"),
        (["export", SCENARIO, "--to", "md", "--refs", "grad(("], 2, "syntax error: '(' was never closed"),
        (["export", SCENARIO, "--to", "md", "--refs", ""], 2, "empty expression"),
        (["export", TRAINING, "--to", "md", "--refs", "epoch(99999999999999999999).W1"], 2, "is out of range"),
        (["serve", SCENARIO, "--port", "-1"], 2, "--port -1: use a port from 1 to 65535"),
        (["serve", SCENARIO, "--port", "99999"], 2, "--port 99999: use a port from 1 to 65535"),
    ]


CHILD = """
import json, sys
from tests.functional.hostile.runner import run_one
for argv in json.loads(sys.stdin.read()):
    print(json.dumps(run_one(argv)), flush=True)
"""


def test_hostile_arguments_end_in_one_line_reasons(tmp_path):
    if not stat.S_ISCHR(os.stat("/dev/full").st_mode):
        pytest.skip("/dev/full is not the full device here")
    table = cases(tmp_path)
    proc = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps([argv for argv, _, _ in table]),
                          capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == len(table)
    wrong = [f"{' '.join(argv)}: exit {r['code']} {r['message']!r} {r['escaped'] or ''}"
             for (argv, code, text), r in zip(table, results, strict=True)
             if r["traceback"] or r["code"] != code or text not in r["message"]]
    assert not wrong, "\n".join(wrong)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode), "an export replaced /dev/full with a file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "b.yaml"]


# ---- regressions: each failed before its fix


def test_export_to_a_pipe_writes_into_it_and_leaves_it_a_pipe(tmp_path, capsys):
    """``--out`` on a device or pipe replaced it with a regular file (as root: /dev/full became a file)."""
    fifo = tmp_path / "handout.md"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text(encoding="utf-8")), daemon=True)
    reader.start()
    code = main(["export", SCENARIO, "--to", "md", "--out", str(fifo)])
    reader.join(timeout=30)
    assert code == 0
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got and got[0].startswith("# Causal (masked) attention")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["handout.md"]   # no temporary file left


def test_export_to_a_symlink_writes_its_target(tmp_path, capsys):
    target = tmp_path / "real.md"
    target.write_text("old", encoding="utf-8")
    (tmp_path / "link.md").symlink_to(target)
    assert main(["export", SCENARIO, "--to", "md", "--out", str(tmp_path / "link.md")]) == 0
    assert (tmp_path / "link.md").is_symlink()
    assert target.read_text(encoding="utf-8").startswith("# Causal (masked) attention")


GD = ("nnlab: 1\ntitle: t\nvalues: {w: [0.5], b: 0.1}\ndata:\n  x: [[1], [0]]\n  y: [1, 0]\nlearn: [w, b]\n"
      "compute:\n  - z = w @ x + b\n  - yhat = sigmoid(z)\n  - loss = bce(yhat, y)\n")


def test_huge_weight_decay_is_a_located_error_without_a_numpy_warning(tmp_path, capsys):
    """``weight_decay: 1e300`` printed NumPy's RuntimeWarning (with nnlab's source path) before the error."""
    f = tmp_path / "wd.yaml"
    f.write_text(GD + "train: {rule: gd, loss: loss, lr: 0.1, epochs: 5, weight_decay: 1e300}\n", encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["check", str(f)])
    err = capsys.readouterr().err
    assert code == 2
    assert [w for w in caught if issubclass(w.category, RuntimeWarning)] == []
    assert err.splitlines()[0].endswith("error: the parameters become nan/inf at update 2 (epoch 2); "
                                        "the learning rate may be too large")


def test_a_list_as_weight_decay_is_named_in_the_error(tmp_path, capsys):
    """``weight_decay: [1]`` said 'got None' (a list has no raw text)."""
    f = tmp_path / "wd.yaml"
    f.write_text(GD + "train: {rule: gd, loss: loss, lr: 0.1, epochs: 5, weight_decay: [1]}\n", encoding="utf-8")
    assert main(["check", str(f)]) == 2
    assert "train.weight_decay must be a number ≥ 0, got [1]" in capsys.readouterr().err
