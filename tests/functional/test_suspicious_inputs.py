"""Inputs that are surely a student's mistake stop with a located error and a hint that fixes them.

bce of a value outside [0, 1] (raw scores given as probabilities), a bce or bce_logits label
outside [0, 1], cross_entropy(logits=False) of a value outside [0, 1], momentum ≥ 1; and the
boundary values (0 and 1 exactly) still run, as does a row of p not summing to 1 (nll_loss's
convention).
"""

from __future__ import annotations

import textwrap

import pytest

from tests.helpers import run_cli


def _cli(tmp_path, text: str, command: str = "run"):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return run_cli(command, str(path)), path


def _error(tmp_path, text: str, command: str = "run") -> tuple[str, int, int, str]:
    """(message, line, column, hint) of the one error a scenario stops with."""
    res, path = _cli(tmp_path, text, command)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    head = next(line for line in out.splitlines() if line.startswith(f"{path}:") and ": error: " in line)
    where, message = head[len(str(path)) + 1:].split(": error: ", 1)
    line, column = (int(n) for n in where.split(":"))
    hint = next((line[len("hint: "):] for line in out.splitlines() if line.startswith("hint: ")), "")
    return message, line, column, hint


BCE = """\
    nnlab: 1
    title: t
    values:
      yhat: {yhat}
      y: {y}
    compute:
      - loss = bce(yhat, y)
    backward: loss
    """


@pytest.mark.parametrize("command", ["run", "check"])
def test_bce_of_a_score_above_1_is_an_error_at_the_call(tmp_path, command):
    message, line, column, hint = _error(tmp_path, BCE.format(yhat="[0.2, 0.5, 1.7]", y="[0, 1, 1]"), command)
    assert message == "p[2] = 1.7 is not a probability (bce needs 0 ≤ p ≤ 1)"
    assert (line, column) == (7, 12)
    assert "apply sigmoid first" in hint and "bce_logits(z, y)" in hint


def test_bce_of_a_negative_value_names_the_cause_not_a_nan(tmp_path):
    message, line, column, hint = _error(tmp_path, BCE.format(yhat="-0.25", y="0"))
    assert message == "p = -0.25 is not a probability (bce needs 0 ≤ p ≤ 1)"
    assert (line, column) == (7, 12)
    assert "nan" not in message and "sigmoid" in hint


def test_bce_label_outside_0_1_is_an_error(tmp_path):
    message, line, column, hint = _error(tmp_path, BCE.format(yhat="[0.2, 0.7]", y="[1, -1]"))
    assert message == "y[1] = -1 is not a label (bce needs 0 ≤ y ≤ 1)"
    assert (line, column) == (7, 12)
    assert "(y + 1) / 2" in hint


def test_bce_logits_label_outside_0_1_is_an_error(tmp_path):
    text = BCE.format(yhat="[0.2, 3.0]", y="[2, 1]").replace("bce(", "bce_logits(")
    message, line, column, hint = _error(tmp_path, text)
    assert message == "y[0] = 2 is not a label (bce_logits needs 0 ≤ y ≤ 1)"
    assert (line, column) == (7, 12)
    assert "(y + 1) / 2" in hint


@pytest.mark.parametrize(("yhat", "y"), [("[0.0, 1.0, 0.5]", "[0, 1, 1]"), ("1", "1"), ("0", "0"),
                                         ("[0.3, 0.6]", "[0.25, 1]")])
def test_bce_boundary_and_in_range_values_run(tmp_path, yhat, y):
    res, _ = _cli(tmp_path, BCE.format(yhat=yhat, y=y))
    assert res.returncode == 0, res.stdout + res.stderr


TRAIN_LINEAR_BCE = """\
    nnlab: 1
    title: t
    data:
      x: [[1.0], [1.0]]
      y: [1, 1]
    values:
      w: [0.5]
    learn: [w]
    compute:
      - yhat = sum(w * x)
      - loss = bce(yhat, y)
    train: {rule: gd, loss: loss, lr: 0.4, epochs: 3}
    """


@pytest.mark.parametrize("command", ["run", "check"])
def test_training_whose_linear_output_leaves_0_1_stops_with_the_located_error(tmp_path, command):
    # w = 0.5 is a probability at the start; the first update makes it 0.5 + 0.4·2 = 1.3
    message, line, column, hint = _error(tmp_path, TRAIN_LINEAR_BCE, command)
    assert message == "p of example 1 = 1.3 is not a probability (bce needs 0 ≤ p ≤ 1)"
    assert (line, column) == (11, 12)
    assert "bce_logits" in hint


def test_training_engine_raises_the_located_error_not_a_traceback():
    from nnlab.engine.train import train
    from nnlab.errors import NnlabError
    from nnlab.scenario import loads

    s = loads(textwrap.dedent(TRAIN_LINEAR_BCE), "t.yaml")
    with pytest.raises(NnlabError) as info:
        train(s)
    assert "is not a probability" in str(info.value.message)
    assert info.value.loc is not None and info.value.loc.line == 11


CE = """\
    nnlab: 1
    title: t
    values:
      p: {p}
      t: {t}
    compute:
      - loss = cross_entropy(p, t, logits=False)
    backward: loss
    """


def test_cross_entropy_probabilities_above_1_are_an_error(tmp_path):
    message, line, column, hint = _error(tmp_path, CE.format(p="[[0.2, 0.3, 1.5]]", t="[2]"))
    assert message == "p[0,2] = 1.5 is not a probability (cross_entropy with logits=False needs 0 ≤ p ≤ 1)"
    assert (line, column) == (7, 12)
    assert "cross_entropy(z, t)" in hint and "softmax" in hint


def test_cross_entropy_row_not_summing_to_1_is_taken_as_given_like_nll_loss(tmp_path):
    # PyTorch's nll_loss(log p) takes any p; nnlab keeps that convention (documented)
    text = CE.format(p="[[0.2, 0.3, 0.5], [0.1, 0.2, 0.6]]", t="[2, 2]").rstrip(" ") + "    expect:\n      loss: 0.6020  # (−ln 0.5 − ln 0.6) / 2\n"
    res, _ = _cli(tmp_path, text, "check")
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("p", ["[[0, 0, 1], [0.1, 0.2, 0.7]]", "[[0, 0, 1], [0.3333333, 0.3333333, 0.3333334]]",
                               "[[0.1, 0.2, 0.7000001], [0.5, 0.5, 0]]"])
def test_cross_entropy_distributions_run(tmp_path, p):
    res, _ = _cli(tmp_path, CE.format(p=p, t="[2, 0]"))
    assert res.returncode == 0, res.stdout + res.stderr


MOMENTUM = """\
    nnlab: 1
    title: t
    values:
      p: [1.0, 1.0]
    learn: [p]
    compute:
      - f = sum(p ** 2)
    train: {{rule: gd, loss: f, lr: {lr}, epochs: 2, momentum: {mu}, weight_decay: {wd}}}
    """


@pytest.mark.parametrize("mu", ["1", "1.0", "1.5"])
def test_momentum_of_1_or_more_is_an_error(tmp_path, mu):
    text = MOMENTUM.format(lr=0.05, mu=mu, wd=0)
    message, line, column, hint = _error(tmp_path, text, "check")
    assert message == f"train.momentum must be below 1, got {mu}"
    train_line = textwrap.dedent(text).splitlines()[7]
    assert (line, column) == (8, train_line.index("momentum: ") + len("momentum: ") + 1)  # the value
    assert "0.9" in hint


@pytest.mark.parametrize(("lr", "mu", "wd", "what"), [(0.05, -0.5, 0, "momentum"), (0.05, 0.9, -0.1, "weight_decay"),
                                                    (0, 0.9, 0, "lr"), (-0.1, 0.9, 0, "lr")])
def test_negative_coefficients_and_a_non_positive_lr_are_errors(tmp_path, lr, mu, wd, what):
    message, line, _, _ = _error(tmp_path, MOMENTUM.format(lr=lr, mu=mu, wd=wd), "check")
    assert message.startswith(f"train.{what} must be")
    assert line == 8


@pytest.mark.parametrize("mu", ["0", "0.9", "0.999"])
def test_momentum_in_0_1_runs(tmp_path, mu):
    res, _ = _cli(tmp_path, MOMENTUM.format(lr=0.05, mu=mu, wd=0.0001))
    assert res.returncode == 0, res.stdout + res.stderr
