"""Training rules of issue #16, each against an oracle that reads no value from nnlab:

* gd with ``momentum`` and ``weight_decay`` against ``torch.optim.SGD`` (every update, the
  velocity too), including stepping back through checkpoints (replay carries the velocity);
* gd without ``data`` against a hand-written gradient step on f(x) = Σ xᵢ^i;
* the perceptron with a ``sign`` prediction and ±1 targets, both update forms, against a
  pure-Python Fraction oracle (Rosenblatt / CIML for ``update: label``);
* ``train.last_update_epoch`` is 0 when no update changed anything.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from nnlab.engine.train import Snapshots, train, velocity_key
from nnlab.errors import NnlabError
from nnlab.scenario import loads
from nnlab.session import session_from_scenario

# ------------------------------------------------------------------ momentum, weight decay

SGD_YAML = """\
nnlab: 1
title: t
values:
  W1: [[0.5, -0.4], [0.3, 0.8], [-0.6, 0.2]]
  b1: [0.1, -0.2, 0.05]
  w2: [0.6, -0.7, 0.4]
  b2: 0.1
data:
  x: [[0.5, 1.0], [1.0, -0.5], [-1.0, 0.5], [0.0, -1.0], [0.3, 0.3]]
  y: [1, 0, 1, 0, 1]
learn: [W1, b1, w2, b2]
compute:
  - a1 = tanh(W1 @ x + b1)
  - yhat = sigmoid(w2 @ a1 + b2)
  - loss = bce(yhat, y)
train: {{rule: gd, loss: loss, lr: 0.3, epochs: 4, batch: {batch}{extra}}}
"""
START = {"W1": [[0.5, -0.4], [0.3, 0.8], [-0.6, 0.2]], "b1": [0.1, -0.2, 0.05], "w2": [0.6, -0.7, 0.4], "b2": 0.1}
XD = np.array([[0.5, 1.0], [1.0, -0.5], [-1.0, 0.5], [0.0, -1.0], [0.3, 0.3]])
YD = np.array([1.0, 0, 1, 0, 1])

SGD_CASES = {  # id: (batch, momentum, weight_decay)
    "momentum-full": ("full", 0.9, 0),
    "momentum-mini2": (2, 0.5, 0),
    "decay-full": ("full", 0, 0.01),
    "momentum-decay-mini2": (2, 0.9, 0.05),
}


def _sgd_training(case, checkpoint_every=None):
    batch, mu, wd = SGD_CASES[case]
    extra = (f", momentum: {mu}" if mu else "") + (f", weight_decay: {wd}" if wd else "")
    return train(loads(SGD_YAML.format(batch=batch, extra=extra), "t.yaml"), checkpoint_every=checkpoint_every)


@pytest.mark.parametrize("case", sorted(SGD_CASES))
def test_momentum_and_weight_decay_match_torch_sgd_every_update(case):
    torch = pytest.importorskip("torch")
    batch, mu, wd = SGD_CASES[case]
    tr = _sgd_training(case)
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in START.items()}
    opt = torch.optim.SGD(list(params.values()), lr=0.3, momentum=mu, weight_decay=wd)
    X, Y = torch.tensor(XD), torch.tensor(YD)
    n = len(XD)
    size = n if batch == "full" else batch
    batches = [list(range(s, min(s + size, n))) for _ in range(4) for s in range(0, n, size)]
    assert [list(r.examples) for r in tr.records] == batches
    for u, idx in enumerate(batches, start=1):
        opt.zero_grad()
        yhat = torch.sigmoid(torch.tanh(X[idx] @ params["W1"].T + params["b1"]) @ params["w2"] + params["b2"])
        torch.nn.functional.binary_cross_entropy(yhat, Y[idx]).backward()
        opt.step()
        for k, p in params.items():
            mine = np.asarray(tr.snapshots[u][k], dtype=float).reshape(p.shape)
            np.testing.assert_allclose(mine, p.detach().numpy(), rtol=0, atol=1e-12, err_msg=f"{k} after {u}")
            if mu:
                buf = opt.state[p]["momentum_buffer"].numpy()
                v = np.asarray(tr.snapshots[u][velocity_key(k)], dtype=float).reshape(p.shape)
                np.testing.assert_allclose(v, buf, rtol=0, atol=1e-12, err_msg=f"velocity of {k} after {u}")
    assert (velocity_key("W1") in tr.snapshots[0]) == bool(mu)


def test_checkpoints_replay_the_velocity_bitwise():
    every = _sgd_training("momentum-decay-mini2", checkpoint_every=1)
    sparse = _sgd_training("momentum-decay-mini2", checkpoint_every=5)
    assert sparse.snapshots.interval == 5 and sparse.snapshots.checkpoints < len(sparse.snapshots)
    for u in (7, 3, 11, 1, 8, 12):  # out of order: segments restored from checkpoints and replayed
        for key, value in every.snapshots[u].items():
            assert np.array_equal(sparse.snapshots[u][key], value), (u, key)


TEXTBOOK = """\
nnlab: 1
title: t
values: {w: [1.0, -2.0]}
learn: [w]
compute:
  - f = sum(w ** 2)
train: {rule: gd, loss: f, lr: 0.1, epochs: 2, momentum: 0.9}
expect:
  epoch(1).velocity(w): [2, -4]
  epoch(1).w: [0.8, -1.6]
  update(2).velocity(w): [3.4, -6.8]
  w: [0.46, -0.92]
  velocity(w) - (0.9 * epoch(1).velocity(w) + epoch(1).grad(w)): [0, 0]
"""


def test_velocity_references_and_the_update_step_shows_the_velocity():
    """Two iterations by hand: g = 2w; v₁ = g₀ = (2, −4), w₁ = w₀ − 0.1·v₁ = (0.8, −1.6);
    g₁ = (1.6, −3.2), v₂ = 0.9·v₁ + g₁ = (3.4, −6.8), w₂ = (0.46, −0.92)."""
    session = session_from_scenario(loads(TEXTBOOK, "t.yaml"))
    report = session.check()
    assert report.ok, [(i.ref, i.actual, i.error) for i in report.items if not i.ok]
    update = [st for st in session.steps if st.phase == "update"][-1]
    assert "velocity(w) ← μ·velocity(w)" in update.label
    ex = session.explain(update, (0,))
    assert ex.value == pytest.approx(0.46)
    assert "velocity(w)[0] = 0.9·2 + 1.6 = 3.4" in ex.arithmetic and "0.8 − 0.1·3.4" in ex.arithmetic


def test_velocity_without_momentum_is_a_located_error():
    text = TEXTBOOK.replace(", momentum: 0.9", "")
    item = session_from_scenario(loads(text, "t.yaml")).check().items[0]
    assert not item.ok and "momentum" in item.error


@pytest.mark.parametrize("bad, message", [("momentum: -0.5", "≥ 0"), ("weight_decay: x", "≥ 0")])
def test_bad_coefficients_are_refused(bad, message):
    text = TEXTBOOK.replace("momentum: 0.9", bad)
    with pytest.raises(NnlabError, match=message):
        session_from_scenario(loads(text, "t.yaml"))


# ------------------------------------------------------------------ gd without data

POWERS = """\
nnlab: 1
title: t
values:
  x: [1.0, 2.0, -1.0]
  i: [1, 2, 3]
learn: [x]
compute:
  - f = sum(x ** i)
train: {rule: gd, loss: f, lr: 0.1, epochs: 3}
"""


def test_gd_without_data_minimizes_a_function_one_update_per_epoch():
    tr = train(loads(POWERS, "t.yaml"))
    assert len(tr.records) == tr.epochs == 3 and list(tr.epoch_end) == [0, 1, 2, 3]
    x = np.array([1.0, 2.0, -1.0])
    for u in range(1, 4):  # ∂f/∂xᵢ = i·xᵢ^(i−1)
        x = x - 0.1 * np.array([1.0, 2 * x[1], 3 * x[2] ** 2])
        np.testing.assert_allclose(np.asarray(tr.snapshots[u]["x"]).reshape(-1), x, rtol=0, atol=1e-14)
    assert tr.records[0].loss == pytest.approx(1 + 4 - 1)


def test_batch_without_data_is_refused():
    with pytest.raises(NnlabError, match="batch needs data"):
        train(loads(POWERS.replace("epochs: 3", "epochs: 3, batch: 2"), "t.yaml"))


# ------------------------------------------------------------------ the ±1 perceptron

SIGN_YAML = """\
nnlab: 1
title: t
values: {{w: {w}, b: {b}}}
data:
  x: {x}
  y: {y}
learn: [w, b]
compute:
  - z = w @ x + b
  - yhat = sign(z)
train: {{rule: perceptron, predict: yhat, target: y, lr: {lr}, epochs: 30{extra}}}
"""
X4 = [[0, 0], [0, 1], [1, 0], [1, 1]]


def sign_perceptron_oracle(X, Y, w, b, lr, update, epochs=30):
    """ŷ = sign(z) (sign(0) = 0). ``error``: p += η(y − ŷ)x on y ≠ ŷ. ``label``: p += η·y·x when y·z ≤ 0.
    Stops after an epoch without a mistake, or when an epoch ends where an earlier one ended."""
    F = Fraction
    w, b, lr = [F(str(v)) for v in w], F(str(b)), F(str(lr))
    seen, mistakes, after = {(tuple(w), b): 0}, [], [(tuple(w), b)]
    for epoch in range(1, epochs + 1):
        wrong = 0
        for x, y in zip(X, Y):
            z = sum(wi * xi for wi, xi in zip(w, x)) + b
            yhat = (z > 0) - (z < 0)
            factor = (y - yhat) if update == "error" else (y if y * z <= 0 else 0)
            if factor:
                wrong += 1
                w = [wi + lr * factor * xi for wi, xi in zip(w, x)]
                b = b + lr * factor
        mistakes.append(wrong)
        after.append((tuple(w), b))
        if wrong == 0 or (tuple(w), b) in seen:
            break
        seen[(tuple(w), b)] = epoch
    return mistakes, after


@pytest.mark.parametrize("update", ["error", "label"])
@pytest.mark.parametrize("y, w, b, lr", [([-1, -1, -1, 1], [0, 0], 0, 1), ([-1, 1, 1, 1], [0.5, -0.5], 0.2, 0.1),
                                         ([1, 1, 1, -1], [0, 0], 0, "0.5")])
def test_sign_perceptron_matches_the_oracle_in_both_forms(update, y, w, b, lr):
    text = SIGN_YAML.format(w=w, b=b, x=X4, y=y, lr=lr, extra=f", update: {update}")
    tr = train(loads(text, "t.yaml"))
    mistakes, after = sign_perceptron_oracle(X4, y, w, b, lr, update)
    assert tr.arithmetic == "exact"
    assert tr.mistakes == mistakes
    for k, (ow, ob) in enumerate(after):
        snap = tr.snapshots[tr.epoch_end[k]]
        assert tuple(np.asarray(snap["w"]).reshape(-1).tolist()) == ow and snap["b"].reshape(-1)[0] == ob


def test_a_score_of_zero_is_a_mistake_for_either_label():
    """w = 0, b = 0: z = 0 for every example. error form: sign(0) = 0 ≠ ±1; label form: y·0 ≤ 0."""
    for update in ("error", "label"):
        for label in (1, -1):
            text = SIGN_YAML.format(w=[0, 0], b=0, x=[[1, 1]], y=[label], lr=1, extra=f", update: {update}")
            tr = train(loads(text, "t.yaml"))
            assert tr.mistakes[0] == 1 and tr.records[0].changed, (update, label)
            assert tr.records[0].error == label  # error: y − sign(0) = y; label: y


def test_label_form_needs_plus_minus_one_targets():
    text = SIGN_YAML.format(w=[0, 0], b=0, x=X4, y=[0, 0, 0, 1], lr=1, extra=", update: label")
    with pytest.raises(NnlabError, match="targets of \\+1 or −1"):
        train(loads(text, "t.yaml"))


def test_update_form_is_checked():
    text = SIGN_YAML.format(w=[0, 0], b=0, x=X4, y=[1, 1, 1, -1], lr=1, extra=", update: labels")
    with pytest.raises(NnlabError, match="'error' or 'label'"):
        train(loads(text, "t.yaml"))


def test_label_form_update_step_explains_the_mistake_test():
    text = SIGN_YAML.format(w=[0, 0], b=0, x=X4, y=[-1, -1, -1, 1], lr=1, extra=", update: label")
    session = session_from_scenario(loads(text, "t.yaml"))
    update = next(st for st in session.steps if st.phase == "update" and st.node == "b")
    assert update.label == "b ← b + η·y·∂z/∂b  if y·z ≤ 0"
    ex = session.explain(update, ())
    assert "≤ 0: mistake on example 0" in ex.note and ex.value == -1


# ------------------------------------------------------------------ last_update_epoch


def test_last_update_epoch_is_zero_when_nothing_changed():
    text = SIGN_YAML.format(w=[1, 1], b=-1.5, x=X4, y=[-1, -1, -1, 1], lr=1, extra="")
    session = session_from_scenario(loads(text, "t.yaml"))
    tr = session.training
    assert tr.converged and tr.mistakes == [0] and tr.updates == 0
    assert tr.facts()["train.last_update_epoch"] == 0
    assert session.evaluate("train.last_update_epoch") == 0


def test_snapshots_of_mixed_state_keep_their_layout():
    """Velocity arrays share a checkpoint row with the parameters (one block, no dict per checkpoint)."""
    snaps = Snapshots({"w": np.zeros((1, 2)), velocity_key("w"): np.zeros((1, 2))}, interval=1)
    snaps.append({"w": np.ones((1, 2)), velocity_key("w"): np.full((1, 2), 2.0)})
    snaps.append({"w": np.full((1, 2), 3.0), velocity_key("w"): np.full((1, 2), 4.0)})
    assert snaps[1][velocity_key("w")].tolist() == [[2.0, 2.0]] and snaps.checkpoints == 3


# ------------------------------------------------------------------ the bundled scenarios, independently

SCENARIOS = __import__("pathlib").Path(__file__).resolve().parents[2] / "scenarios"


def test_bundled_momentum_exercise_matches_torch():
    torch = pytest.importorskip("torch")
    from nnlab.session import open_session

    p = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.05, momentum=0.9)
    seen = []
    for _ in range(2):
        opt.zero_grad()
        (p[0] ** 2 + 10 * p[1] ** 2).backward()
        opt.step()
        seen.append((p.detach().numpy().copy(), opt.state[p]["momentum_buffer"].numpy().copy()))
    session = open_session(str(SCENARIOS / "train-momentum-two-steps.yaml"))
    for k, (point, velocity) in enumerate(seen, start=1):
        np.testing.assert_allclose(session.evaluate(f"epoch({k}).p"), point, atol=1e-12)
        np.testing.assert_allclose(session.evaluate(f"epoch({k}).velocity(p)"), velocity, atol=1e-12)
    # the scenario's written answers are these numbers
    answers = {e.ref: e.answer for e in session.scenario.expect}
    np.testing.assert_allclose(answers["p"], seen[1][0], atol=1e-12)
    np.testing.assert_allclose(answers["epoch(2).velocity(p)"], seen[1][1], atol=1e-12)
    assert answers["f"] == pytest.approx(float(seen[1][0][0] ** 2 + 10 * seen[1][0][1] ** 2))


def test_bundled_sign_perceptron_matches_the_oracle_and_its_solution():
    from nnlab.session import open_session

    session = open_session(str(SCENARIOS / "train-perceptron-sign.yaml"))
    mistakes, after = sign_perceptron_oracle(X4, [-1, -1, -1, 1], [0, 0], 0, 1, "label")
    answers = {e.ref: e.answer for e in session.scenario.expect}
    assert list(answers["train.mistakes"]) == mistakes
    assert list(answers["w"]) == list(after[-1][0]) and answers["b"] == after[-1][1]
    other, other_after = sign_perceptron_oracle(X4, [-1, -1, -1, 1], [0, 0], 0, 1, "error")
    assert len(other) == 6 and other_after[-1] == ((4, 2), -5)  # what its solution says of update: error
    assert "epoch 6, at w = (4, 2),\nb = −5" in session.scenario.solution


@pytest.mark.parametrize("text", [TEXTBOOK, SGD_YAML.format(batch=2, extra=", momentum: 0.9, weight_decay: 0.05"),
                                  SIGN_YAML.format(w=[0, 0], b=0, x=X4, y=[-1, -1, -1, 1], lr=1,
                                                   extra=", update: label")])
def test_apply_update_is_the_update_training_made(text):
    """The diagnosis replays training through apply_update: it must give every snapshot again, bitwise."""
    from nnlab.engine.train import apply_update

    tr = train(loads(text, "t.yaml"))
    for u in range(1, len(tr.records) + 1):
        again = apply_update(tr, tr.snapshots[u - 1], tr.records[u - 1].examples)
        assert again.keys() == tr.snapshots[u].keys()
        for key, value in tr.snapshots[u].items():
            assert np.array_equal(np.asarray(again[key]), np.asarray(value)), (u, key)


def test_the_error_forms_answer_to_a_label_form_quiz_is_not_blamed_on_a_missing_bias():
    """w = (4, 2), b = −5 is where update: error ends; the diagnosis used to replay the error form
    for every perceptron and so matched a wrong misconception (bias-missing)."""
    text = SIGN_YAML.format(w=[0, 0], b=0, x=X4, y=[-1, -1, -1, 1], lr=1, extra=", update: label") + \
        "expect:\n  w: [4, 2]\n  b: -5\n"
    report = session_from_scenario(loads(text, "t.yaml")).check()
    assert not report.ok
    assert all(f.id != "bias-missing" for item in report.items for f in item.diagnosis)
