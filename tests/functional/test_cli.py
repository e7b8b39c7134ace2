"""The non-interactive commands, run in-process (``nnlab.cli.main``) and once as the console script."""

import json
import subprocess
import sysconfig
from pathlib import Path

import pytest

from tests.helpers import run_cli

GOOD = """nnlab: 1
title: Lecture conv
values:
  X: [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
  K: [[0, 1], [2, 3]]
compute:
  - Y = conv2d(X, K)
  - s = sum(Y)
backward: s
expect:
  Y: [[19, 25], [37, 43]]
  Y[1, 1]: 43
"""


nnlab = run_cli


@pytest.fixture
def good(tmp_path):
    f = tmp_path / "good.yaml"
    f.write_text(GOOD)
    return f


def test_check_pass_fail_invalid(good, tmp_path):
    p = nnlab("check", str(good))
    assert p.returncode == 0, p.stderr
    assert "✓" in p.stdout and "all 2 answers match" in p.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("Y[1, 1]: 43", "Y[1, 1]: 42"))
    p = nnlab("check", str(bad))
    assert p.returncode == 1 and "first mistake: Y[1, 1]" in p.stdout
    bad.write_text(GOOD.replace("conv2d", "conv"))
    assert nnlab("check", str(bad)).returncode == 2


def test_check_json(good):
    p = nnlab("check", str(good), "--json")
    data = json.loads(p.stdout)
    assert data[0]["ref"] == "Y" and data[0]["ok"] is True
    assert data[1] == {**data[1], "expected": 43, "actual": 43.0, "ok": True}


def test_run_prints_steps_and_explains(good):
    p = nnlab("run", str(good))
    assert p.returncode == 0, p.stderr
    assert "Y = conv2d(X, K)" in p.stdout and "Y[0,0] = 0×0 + 1×1 + 3×2 + 4×3 = 19" in p.stdout
    p = nnlab("run", str(good), "--explain", "Y[1,1]")
    assert "4×0 + 5×1 + 7×2 + 8×3 = 43" in p.stdout
    p = nnlab("run", str(good), "--json", "--phase", "backward")
    data = json.loads(p.stdout)
    assert all(s["phase"] == "backward" for s in data["steps"])


def test_validate_and_list_and_version(good):
    p = nnlab("validate", str(good))
    assert p.returncode == 0 and p.stdout == f"{good}: OK (4 steps)\n"
    p = nnlab("--version")
    assert p.returncode == 0 and p.stdout.startswith("nnlab ")
    p = nnlab("list")
    names = [line.split()[0] for line in p.stdout.splitlines()]
    assert p.returncode == 0 and "conv-lecture" in names and names == sorted(names)


def test_the_console_script_end_to_end(good):
    """The installed ``nnlab`` script (``[project.scripts]``) in its own process: exit status and output."""
    script = Path(sysconfig.get_path("scripts")) / "nnlab"
    assert script.exists(), "the console script is missing: pip install -e '.[test]'"
    p = subprocess.run([str(script), "check", str(good)], capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stderr
    assert "all 2 answers match" in p.stdout and p.stderr == ""
    bad = good.with_name("bad.yaml")
    bad.write_text(GOOD.replace("conv2d(X, K)", "conv2d(X, K"))
    p = subprocess.run([str(script), "check", str(bad)], capture_output=True, text=True, check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr and f"{bad}:" in p.stderr


XOR_GD = Path(__file__).resolve().parents[2] / "scenarios" / "train-mlp-xor-gd.yaml"


@pytest.fixture(scope="module")
def xor_gd(tmp_path_factory):
    """The bundled XOR network trained for 3 epochs instead of 2000 (the answers are not checked here)."""
    text = XOR_GD.read_text(encoding="utf-8")
    assert "epochs: 2000," in text
    f = tmp_path_factory.mktemp("xor") / "xor-gd-3.yaml"
    f.write_text(text.replace("epochs: 2000,", "epochs: 3,").split("\nexpect:")[0] + "\n")
    return str(f)


def test_explain_on_training_explains_one_run_with_its_parameters(xor_gd):
    from nnlab.session import open_session

    session = open_session(xor_gd)
    tr = session.training
    final = session.explain_ref("grad(W1)[0,0]")
    assert len(final) == 1                                    # one backward step, not one per update
    assert final[0][1].value == pytest.approx(session.run.grads["W1"][0, 0, 0])
    run, plain, context = session.ref_context("epoch(1).grad(W1)[0,0]")
    assert plain == "grad(W1)[0, 0]" and context == "the parameters after epoch 1 (update 1), on all 4 examples"
    (step, ex), = session.explain_ref("epoch(1).grad(W1)[0,0]")
    first = tr.run_at(tr.epoch_end[1], None, target=tr.loss_target)
    assert ex.value == pytest.approx(first.grads["W1"][0, 0, 0])
    assert ex.value != pytest.approx(final[0][1].value)
    (_, ex), = session.explain_ref("update(0).yhat[3]")          # the start, example 3
    assert ex.value == pytest.approx(tr.run_at(0, None).values["yhat"][3])
    assert session.ref_context("update(0).yhat[3]")[2] == "the starting parameters, on all 4 examples; example 3 of 4"


def test_explain_cli_names_the_parameters_and_refuses_bad_prefixes(xor_gd):
    p = nnlab("explain", xor_gd, "epoch(1).yhat[2]")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "with the parameters after epoch 1 (update 1), on all 4 examples; example 2 of 4"
    assert lines[1].startswith("step 4 (forward: yhat = sigmoid(z2))") and len(lines) < 20
    for ref, message in [("epoch(99999).yhat", "out of range"), ("foo(1).yhat", "epoch(k). or update(k)."),
                         ("yhat[7]", "example 7 is out of range")]:
        p = nnlab("explain", xor_gd, ref)
        assert p.returncode == 2 and message in p.stdout + p.stderr, (ref, p.stdout, p.stderr)
