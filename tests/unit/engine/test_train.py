"""Training: the perceptron rule, stopping rules, exact decimals, gradient descent, undo."""

import textwrap

import numpy as np
import pytest

from nnlab.session import session_from_scenario
from nnlab.errors import NnlabError
from nnlab.scenario import loads


def session(text):
    return session_from_scenario(loads(textwrap.dedent(text), "t.yaml"))


PERCEPTRON = """
nnlab: 1
title: p
values: {{w: [0, 0], b: 0}}
data:
  x: [[0, 0], [0, 1], [1, 0], [1, 1]]
  y: {y}
learn: [w, b]
compute:
  - z = w @ x + b
  - yhat = step(z)
train: {{rule: perceptron, predict: yhat, target: y, lr: 1, epochs: 50}}
"""


def test_perceptron_learns_and():
    s = session(PERCEPTRON.format(y="[0, 0, 0, 1]"))
    tr = s.training
    assert tr.converged and tr.mistakes == [1, 3, 3, 2, 1, 0]
    assert tr.first_clean_epoch == 6 and tr.last_update_epoch == 5 and tr.updates == 10
    assert s.run.value("yhat").tolist() == [0, 0, 0, 1]
    assert s.run.value("w").tolist() == [2, 1] and s.run.value("b") == -2


def test_perceptron_xor_cycles():
    s = session(PERCEPTRON.format(y="[0, 1, 1, 0]"))
    tr = s.training
    assert not tr.converged
    assert (tr.cycle_start, tr.cycle_length) == (2, 1)
    assert tr.mistakes == [2, 3, 4]
    assert "never converges" in tr.summary()


def test_exact_decimals_hit_zero_where_float_does_not():
    # 0.1 + 0.2 - 0.3 is exactly 0 by hand (step -> 0, no update needed for y = 0),
    # but 5.55e-17 in float64 (step -> 1, a spurious mistake).
    text = """
    nnlab: 1
    title: exact
    values: {w: [0.1, 0.2], b: -0.3}
    data: {x: [[1, 1]], y: [0]}
    learn: [w, b]
    compute:
      - z = w @ x + b
      - yhat = step(z)
    train: {rule: perceptron, predict: yhat, target: y, lr: 0.1, epochs: 5}
    """
    exact = session(text).training
    assert exact.arithmetic == "exact" and exact.converged and exact.mistakes == [0]
    floaty = session(text.replace("epochs: 5}", "epochs: 5}\n    options: {arithmetic: float}")).training
    assert floaty.mistakes[0] == 1  # float64 flips step(z) on 5.55e-17


GD = """
nnlab: 1
title: gd
values:
  W: [[0.5, -0.4], [0.3, 0.8]]
  c: [0.1, -0.2]
  v: [0.7, -0.5]
  d: 0.05
data:
  x: [[0, 0], [0, 1], [1, 0], [1, 1]]
  y: [0, 1, 1, 0]
learn: [W, c, v, d]
compute:
  - h = sigmoid(W @ x + c)
  - yhat = sigmoid(v @ h + d)
  - loss = bce(yhat, y)
train: {rule: gd, loss: loss, lr: 0.5, epochs: 3, batch: BATCH}
"""


def _mean_loss(p, X, Y):
    sig = lambda t: 1 / (1 + np.exp(-t))  # noqa: E731
    h = sig(X @ p["W"].T + p["c"])
    yh = sig(h @ p["v"] + p["d"])
    return np.mean(-(Y * np.log(yh) + (1 - Y) * np.log(1 - yh)))


@pytest.mark.parametrize("batch", ["full", "2", "1"])
def test_gd_updates_match_finite_differences(batch):
    s = session(GD.replace("BATCH", batch))
    tr = s.training
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    Y = np.array([0, 1, 1, 0], float)
    for u, rec in enumerate(tr.records[:4]):
        before = {k: np.asarray(v[0], float) for k, v in tr.snapshots[u].items()}
        after = {k: np.asarray(v[0], float) for k, v in tr.snapshots[u + 1].items()}
        idx = list(rec.examples)
        for name, val in before.items():
            num = np.zeros_like(val)
            for i in np.ndindex(*val.shape):
                plus = {k: v.copy() for k, v in before.items()}
                minus = {k: v.copy() for k, v in before.items()}
                plus[name][i] += 1e-6
                minus[name][i] -= 1e-6
                num[i] = (_mean_loss(plus, X[idx], Y[idx]) - _mean_loss(minus, X[idx], Y[idx])) / 2e-6
            np.testing.assert_allclose(after[name], val - 0.5 * num, rtol=1e-7, atol=1e-9)
    n_updates = {"full": 3, "2": 6, "1": 12}[batch]
    assert len(tr.records) == n_updates


def test_epoch_and_update_references():
    s = session(GD.replace("BATCH", "full") + """expect:
  mean(epoch(0).loss): {value: 0.7, abs: 0.2}
  update(1).W: {value: [[0, 0], [0, 0]], abs: 2}
  train.epochs: 3
""")
    report = s.check()
    assert report.ok, [(i.ref, i.actual, i.error) for i in report.items]
    # epoch(0) really is the starting point: its loss is above the final one
    loss0 = s.training.run_at(0, None, target="loss").value("loss").mean()
    assert loss0 > s.run.value("loss").mean()


def test_undo_through_updates_is_moving_an_index():
    s = session(PERCEPTRON.format(y="[0, 0, 0, 1]"))
    steps = s.steps
    G = steps.group
    u4_w = next(k for k in range(3 * G, 4 * G) if steps[k].phase == "update" and steps[k].node == "w")
    after = s.explain(steps[u4_w])
    assert after.value == 1 and steps[u4_w].update == 4
    back = steps[u4_w - G]  # the same step one update earlier
    assert back.update == 3 and s.explain(back).value == 0
    # forward steps of update 4 see the parameters from before update 4
    fwd = steps[3 * G]
    assert s.run_for(fwd).value("w").tolist() == [0, 0]
    assert steps.first_of_epoch(2) == 4 * G


def test_training_memory_is_snapshots_not_traces():
    s = session(GD.replace("BATCH", "full").replace("epochs: 3", "epochs: 200"))
    assert len(s.steps) == 200 * s.steps.group
    assert len(s.training._cache) <= 64


def test_bad_train_block():
    with pytest.raises(NnlabError) as info:
        session(PERCEPTRON.format(y="[0, 0, 0, 1]").replace("predict: yhat", "predict: z"))
    assert "step" in info.value.message
    with pytest.raises(NnlabError) as info:
        session(PERCEPTRON.format(y="[0, 0, 0, 1]").replace("rule: perceptron", "rule: perceptorn"))
    assert "perceptron" in (info.value.hint or "")


def test_descend_reuses_only_gradients_it_owns():
    from nnlab.engine.train import _descend

    w, v = np.ones((1, 32, 32)), np.full((1, 3), 2.0)
    base = np.arange(1024.0)
    own = base.reshape(32, 32)[None]                   # a view of a fresh array: its memory is reused
    own.flags.writeable = False
    shared = np.array([[1.0, 1.0, 1.0]])               # the same array for two parameters: copied
    new = _descend({"w": w, "v": v, "u": v, "c": w}, {"w": own, "v": shared, "u": shared, "c": None}, 0.5)
    np.testing.assert_array_equal(new["w"], 1 - 0.5 * np.arange(1024.0).reshape(1, 32, 32))
    assert new["w"] is own and np.shares_memory(new["w"], base)  # no new allocation
    np.testing.assert_array_equal(new["v"], [[1.5, 1.5, 1.5]])
    np.testing.assert_array_equal(new["u"], [[1.5, 1.5, 1.5]])
    np.testing.assert_array_equal(shared, [[1.0, 1.0, 1.0]])  # untouched
    assert new["c"] is w
    ones = np.broadcast_to(np.array(1.0), (1, 32, 32))   # a broadcast view: never written
    new = _descend({"w": w}, {"w": ones}, 1.0)
    np.testing.assert_array_equal(new["w"], np.zeros((1, 32, 32)))
    fortran = np.asfortranarray(np.arange(1024.0).reshape(32, 32))  # owns Fortran-ordered memory
    expected = 1 - fortran.T[None]                    # fortran.T is C-contiguous over that memory
    new = _descend({"w": w}, {"w": fortran.T[None]}, 1.0)
    np.testing.assert_array_equal(new["w"], expected)  # written through the view: element for element
    small = np.arange(6.0).reshape(1, 2, 3)            # under REUSE_MIN: copied, not reused
    new = _descend({"w": np.ones((1, 2, 3))}, {"w": small}, 1.0)
    assert new["w"] is not small and small[0, 0, 1] == 1.0
