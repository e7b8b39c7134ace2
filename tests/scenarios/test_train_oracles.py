"""Training checked against independent oracles.

* (a) the lecture's perceptron learning algorithm written out in pure Python with
  :class:`fractions.Fraction` — same parameters after every update and every
  epoch, same mistakes, same convergence / cycle facts as nnlab;
* (b) a case where float64 and exact arithmetic disagree (the NAND-decimal
  scenario): a float64 perceptron gives a different answer, nnlab gives the
  exact (hand-calculation) one;
* (c) gradient descent, full batch and minibatch (sequential, uneven last batch,
  shuffled), against ``torch.optim.SGD`` for several updates, every snapshot;
* (d) the gradients nnlab reports and uses, against central finite differences
  of an independent NumPy implementation of the mean loss;
* (e) undo through updates: stepping the TrainSteps index backward across an
  update boundary shows the previous snapshot's parameters.

Nothing here reads an expected value from nnlab; the oracles compute their own.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from nnlab.session import open_session, session_from_scenario
from nnlab.engine.trace import FORWARD, UPDATE
from nnlab.engine.train import train
from nnlab.scenario import loads

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
X4 = [[0, 0], [0, 1], [1, 0], [1, 1]]


# ---------------------------------------------------------------- perceptron oracle


def perceptron_oracle(X, Y, w, b, lr, epochs=50, num=Fraction, order=None):
    """The lecture's perceptron learning algorithm, one update per example.

    ŷ = step(w·x + b) with step(0) = 0; on a mistake w += η(y − ŷ)x, b += η(y − ŷ).
    Stops after the first epoch without a mistake, or when the parameters at the
    end of an epoch equal those at the end of an earlier epoch (epoch 0 = start).

    Args:
        order: Per epoch, the example order (default: as written).

    Returns:
        dict with ``updates`` (parameters after each update, [0] = start),
        ``epochs`` (after each epoch), ``mistakes``, ``converged``,
        ``cycle_start``, ``cycle_length``.
    """
    def conv(v):
        return num(str(v)) if num is Fraction and isinstance(v, float) else num(v)

    w = [conv(v) for v in w]
    b, lr = conv(b), conv(lr)
    X = [[conv(v) for v in row] for row in X]
    Y = [conv(v) for v in Y]
    state = (tuple(w), b)
    updates, after_epoch, mistakes = [state], [state], []
    seen = {state: 0}
    out = {"converged": False, "cycle_start": None, "cycle_length": None}
    for epoch in range(1, epochs + 1):
        wrong = 0
        for i in (order[epoch - 1] if order is not None else range(len(X))):
            x, y = X[i], Y[i]
            z = sum((wi * xi for wi, xi in zip(w, x)), num(0)) + b
            yhat = 1 if z > 0 else 0
            if yhat != y:
                wrong += 1
                w = [wi + lr * (y - yhat) * xi for wi, xi in zip(w, x)]
                b = b + lr * (y - yhat)
            updates.append((tuple(w), b))
        mistakes.append(wrong)
        state = (tuple(w), b)
        after_epoch.append(state)
        if wrong == 0:
            out["converged"] = True
            break
        if state in seen:
            out["cycle_start"], out["cycle_length"] = seen[state], epoch - seen[state]
            break
        seen[state] = epoch
    out.update(updates=updates, epochs=after_epoch, mistakes=mistakes)
    return out


def _wb(snapshot) -> tuple[tuple, object]:
    """(w, b) of an nnlab snapshot as plain Python values (Fractions in exact mode)."""
    w = tuple(np.asarray(snapshot["w"]).reshape(-1).tolist())
    b = np.asarray(snapshot["b"]).reshape(-1).tolist()[0]
    return w, b


PERCEPTRON_CASES = {
    # file: (targets, w0, b0, lr)
    "train-perceptron-and.yaml": ([0, 0, 0, 1], [0, 0], 0, 1),
    "train-perceptron-or.yaml": ([0, 1, 1, 1], [0, 0], 0, 1),
    "train-perceptron-xor.yaml": ([0, 1, 1, 0], [0, 0], 0, 1),
    "train-perceptron-nand-decimal.yaml": ([1, 1, 1, 0], ["-0.3", "-0.3"], "0.2", "0.1"),
}


@pytest.mark.parametrize("name", sorted(PERCEPTRON_CASES))
def test_perceptron_matches_fraction_oracle(name):
    Y, w0, b0, lr = PERCEPTRON_CASES[name]
    oracle = perceptron_oracle(X4, Y, w0, b0, lr)
    s = open_session(str(SCENARIOS / name))
    tr = s.training
    assert tr.arithmetic == "exact"
    # same scenario as the oracle (guards against the file drifting from this table)
    assert _wb(tr.snapshots[0]) == oracle["epochs"][0]
    assert tr.mistakes == oracle["mistakes"]
    assert tr.epochs == len(oracle["mistakes"])
    # every epoch, exactly (Fractions compare exactly)
    for k in range(tr.epochs + 1):
        assert _wb(tr.snapshots[tr.epoch_end[k]]) == oracle["epochs"][k], f"after epoch {k}"
    # every update
    assert len(tr.snapshots) == len(oracle["updates"])
    for u, (mine, theirs) in enumerate(zip(tr.snapshots, oracle["updates"])):
        assert _wb(mine) == theirs, f"after update {u}"
    assert tr.converged == oracle["converged"]
    assert tr.cycle_start == oracle["cycle_start"]
    assert tr.cycle_length == oracle["cycle_length"]
    facts = tr.facts()
    assert facts["train.updates"] == sum(oracle["mistakes"])
    assert facts["train.first_clean_epoch"] == (len(oracle["mistakes"]) if oracle["converged"] else None)
    # (its expect: block is checked by tests/scenarios/test_bundled.py)


def test_xor_cycle_is_detected_not_run_to_the_epoch_limit():
    oracle = perceptron_oracle(X4, [0, 1, 1, 0], [0, 0], 0, 1, epochs=50)
    assert not oracle["converged"] and oracle["cycle_length"] == 1
    tr = open_session(str(SCENARIOS / "train-perceptron-xor.yaml")).training
    assert tr.epochs < 50
    start, length = tr.cycle_start, tr.cycle_length
    assert _wb(tr.snapshots[tr.epoch_end[start + length]]) == _wb(tr.snapshots[tr.epoch_end[start]])
    assert all(m > 0 for m in tr.mistakes)


PERCEPTRON_YAML = """\
nnlab: 1
title: t
values: {{w: {w}, b: {b}}}
data:
  x: {x}
  y: {y}
learn: [w, b]
compute:
  - z = w @ x + b
  - yhat = step(z)
train: {{rule: perceptron, predict: yhat, target: y, lr: {lr}, epochs: {epochs}{extra}}}
{options}"""


def _perceptron(x, y, w, b, lr, epochs=50, extra="", options=""):
    text = PERCEPTRON_YAML.format(x=x, y=y, w=w, b=b, lr=lr, epochs=epochs, extra=extra, options=options)
    return session_from_scenario(loads(text, "t.yaml")).training


@pytest.mark.parametrize("w, b, lr", [("[0.5, 0.5]", "-0.5", "0.1"), ("[0.4, 0.5]", "-0.4", "0.1"),
                                      ("[-0.5, 0.2]", "-0.3", "0.1"), ("[0.1, -0.2]", "-0.3", "0.1")])
def test_perceptron_more_decimal_starts(w, b, lr):
    """Other NAND starts where float64 diverges — longer runs, all exact."""
    tr = _perceptron(X4, [1, 1, 1, 0], w, b, lr)
    oracle = perceptron_oracle(X4, [1, 1, 1, 0], eval(w), float(b), float(lr))
    assert tr.mistakes == oracle["mistakes"]
    for k in range(tr.epochs + 1):
        assert _wb(tr.snapshots[tr.epoch_end[k]]) == oracle["epochs"][k]
    flt = perceptron_oracle(X4, [1, 1, 1, 0], eval(w), float(b), float(lr), num=float)
    assert flt["mistakes"] != oracle["mistakes"]


def test_perceptron_shuffle_replays_in_the_oracle():
    """With order: shuffle, each epoch is a permutation, and replaying nnlab's order gives its answers."""
    tr = _perceptron(X4, [0, 0, 0, 1], "[0, 0]", "0", "0.5", extra=", order: shuffle, seed: 3")
    n = 4
    orders = [[r.examples[0] for r in tr.records[tr.epoch_end[k]:tr.epoch_end[k + 1]]] for k in range(tr.epochs)]
    assert all(sorted(o) == list(range(n)) for o in orders)
    oracle = perceptron_oracle(X4, [0, 0, 0, 1], [0, 0], 0, "0.5", order=orders)
    assert tr.mistakes == oracle["mistakes"] and tr.converged == oracle["converged"]
    assert [_wb(s) for s in tr.snapshots] == oracle["updates"]


def test_perceptron_epoch_limit_without_convergence_or_cycle():
    """Stopping after `epochs`: neither converged nor a cycle."""
    tr = _perceptron(X4, [0, 0, 0, 1], "[0, 0]", "0", "1", epochs=3)
    oracle = perceptron_oracle(X4, [0, 0, 0, 1], [0, 0], 0, 1, epochs=3)
    assert tr.mistakes == oracle["mistakes"] == [1, 3, 3]
    assert not tr.converged and tr.cycle_start is None and tr.epochs == 3


# ------------------------------------------------------------------ float vs exact


def test_nand_decimal_float64_differs_but_nnlab_is_exact():
    name = "train-perceptron-nand-decimal.yaml"
    Y, w0, b0, lr = PERCEPTRON_CASES[name]
    exact = perceptron_oracle(X4, Y, w0, b0, lr)
    flt = perceptron_oracle(X4, Y, [float(v) for v in w0], float(b0), float(lr), num=float)
    # the float64 run really is different: at update 3 it sees z = -0.3 + 0.30000000000000004 > 0
    assert 0.2 + 0.1 != 0.3
    assert flt["mistakes"] != exact["mistakes"]
    assert flt["mistakes"] == [1, 0] and exact["mistakes"] == [2, 0]
    assert [float(v) for v in flt["epochs"][-1][0]] != [float(v) for v in exact["epochs"][-1][0]]
    # nnlab gives the exact answer
    tr = open_session(str(SCENARIOS / name)).training
    assert tr.arithmetic == "exact"
    assert tr.mistakes == exact["mistakes"]
    assert _wb(tr.snapshots[-1]) == exact["epochs"][-1]
    assert _wb(tr.snapshots[-1]) == ((Fraction("-0.2"), Fraction("-0.2")), Fraction("0.4"))
    # and asking nnlab for float arithmetic reproduces the float64 answer
    ftr = _perceptron(X4, Y, "[-0.3, -0.3]", "0.2", "0.1", options="options: {arithmetic: float}")
    assert ftr.arithmetic == "float64"
    assert ftr.mistakes == flt["mistakes"]
    w, b = _wb(ftr.snapshots[-1])
    assert list(w) == [float(v) for v in flt["epochs"][-1][0]] and b == flt["epochs"][-1][1]


# --------------------------------------------------------------------- gd vs torch

MLP_YAML = """\
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
  - z1 = W1 @ x + b1
  - a1 = {act}(z1)
  - z2 = w2 @ a1 + b2
  - yhat = sigmoid(z2)
  - loss = {loss}(yhat, y)
train: {{rule: gd, loss: loss, lr: {lr}, epochs: {epochs}, batch: {batch}, order: {order}, seed: 7}}
"""
START = {"W1": [[0.5, -0.4], [0.3, 0.8], [-0.6, 0.2]], "b1": [0.1, -0.2, 0.05], "w2": [0.6, -0.7, 0.4], "b2": 0.1}
XD = np.array([[0.5, 1.0], [1.0, -0.5], [-1.0, 0.5], [0.0, -1.0], [0.3, 0.3]])
YD = np.array([1.0, 0, 1, 0, 1])

GD_CASES = {  # id: (act, loss, lr, epochs, batch, order)
    "full-bce": ("sigmoid", "bce", 0.5, 6, "full", "sequential"),
    "full-mse-tanh": ("tanh", "mse", 0.3, 6, "full", "sequential"),
    "mini2-bce-uneven": ("sigmoid", "bce", 0.1, 3, 2, "sequential"),
    "sgd1-mse": ("sigmoid", "mse", 0.2, 2, 1, "sequential"),
    "mini2-shuffle": ("tanh", "bce", 0.3, 3, 2, "shuffle"),
}


def _gd_training(case):
    act, loss, lr, epochs, batch, order = GD_CASES[case]
    return train(loads(MLP_YAML.format(act=act, loss=loss, lr=lr, epochs=epochs, batch=batch, order=order),
                       "t.yaml"))


def _expected_batches(case, tr):
    """The batches an independent reading of the spec gives (shuffle: any partition per epoch)."""
    _, _, _, epochs, batch, order = GD_CASES[case]
    n = len(XD)
    size = n if batch == "full" else batch
    if order == "sequential":
        return [tuple(range(s, min(s + size, n))) for _ in range(epochs) for s in range(0, n, size)]
    # shuffle: take nnlab's batches but check they are a partition of the data in each epoch, of the right sizes
    got = [r.examples for r in tr.records]
    per_epoch = -(-n // size)
    assert len(got) == epochs * per_epoch
    for e in range(epochs):
        chunk = got[e * per_epoch:(e + 1) * per_epoch]
        assert sorted(i for b in chunk for i in b) == list(range(n))
        assert [len(b) for b in chunk] == [min(size, n - s) for s in range(0, n, size)]
    assert len({tuple(i for b in got[e * per_epoch:(e + 1) * per_epoch] for i in b) for e in range(epochs)}) > 1
    return got


@pytest.mark.parametrize("case", sorted(GD_CASES))
def test_gd_matches_torch_sgd_every_update(case):
    torch = pytest.importorskip("torch")
    act, loss, lr, epochs, batch, order = GD_CASES[case]
    tr = _gd_training(case)
    assert tr.arithmetic == "float64"
    batches = _expected_batches(case, tr)
    assert [r.examples for r in tr.records] == batches

    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in START.items()}
    opt = torch.optim.SGD(list(params.values()), lr=lr)
    X = torch.tensor(XD)
    Y = torch.tensor(YD)
    f_act = torch.sigmoid if act == "sigmoid" else torch.tanh
    f_loss = torch.nn.functional.binary_cross_entropy if loss == "bce" else torch.nn.functional.mse_loss

    def compare(u):
        for k, p in params.items():
            mine = np.asarray(tr.snapshots[u][k], dtype=float).reshape(p.shape)
            np.testing.assert_allclose(mine, p.detach().numpy(), rtol=0, atol=1e-10, err_msg=f"{k} after update {u}")

    compare(0)
    for u, b in enumerate(batches, start=1):
        idx = list(b)
        opt.zero_grad()
        a1 = f_act(X[idx] @ params["W1"].T + params["b1"])
        yhat = torch.sigmoid(a1 @ params["w2"] + params["b2"])
        out = f_loss(yhat, Y[idx])  # mean over the batch
        out.backward()
        opt.step()
        assert tr.records[u - 1].loss == pytest.approx(out.item(), abs=1e-12)
        compare(u)
    assert len(tr.snapshots) == len(batches) + 1
    assert tr.epoch_end[-1] == len(batches) and tr.epochs == epochs


CE_YAML = """\
nnlab: 1
title: t
values:
  W1: [[0.2, -0.1, 0.4], [0.5, 0.3, -0.2]]
  b1: [0.0, 0.1]
  W2: [[0.3, -0.6], [0.1, 0.2], [-0.4, 0.5]]
  b2: [0.1, 0.0, -0.1]
data:
  x: [[1.0, 0.5, -1.0], [0.0, 1.0, 0.5], [-0.5, -0.5, 1.0], [1.0, 1.0, 1.0]]
  y: [0, 2, 1, 2]
learn: [W1, b1, W2, b2]
compute:
  - h = relu(W1 @ x + b1)
  - f = W2 @ h + b2
  - loss = cross_entropy(f, y)
train: {rule: gd, loss: loss, lr: 0.4, epochs: 3, batch: 3}
"""


def test_softmax_cross_entropy_minibatch_matches_torch():
    torch = pytest.importorskip("torch")
    tr = train(loads(CE_YAML, "t.yaml"))
    start = {"W1": [[0.2, -0.1, 0.4], [0.5, 0.3, -0.2]], "b1": [0.0, 0.1],
             "W2": [[0.3, -0.6], [0.1, 0.2], [-0.4, 0.5]], "b2": [0.1, 0.0, -0.1]}
    X = torch.tensor([[1.0, 0.5, -1.0], [0.0, 1.0, 0.5], [-0.5, -0.5, 1.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    Y = torch.tensor([0, 2, 1, 2])
    P = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in start.items()}
    opt = torch.optim.SGD(list(P.values()), lr=0.4)
    batches = [(0, 1, 2), (3,)] * 3
    assert [r.examples for r in tr.records] == batches
    for u, b in enumerate(batches, start=1):
        opt.zero_grad()
        idx = list(b)
        f = torch.relu(X[idx] @ P["W1"].T + P["b1"]) @ P["W2"].T + P["b2"]
        torch.nn.functional.cross_entropy(f, Y[idx]).backward()
        opt.step()
        for k, p in P.items():
            np.testing.assert_allclose(np.asarray(tr.snapshots[u][k], float).reshape(p.shape), p.detach().numpy(),
                                       rtol=0, atol=1e-10, err_msg=f"{k} after update {u}")


# ------------------------------------------------------------ finite differences


def _numpy_mean_loss(params, idx, act, loss):
    """Independent NumPy forward of the mean loss over examples ``idx``."""
    X, Y = XD[list(idx)], YD[list(idx)]
    f = (lambda z: 1 / (1 + np.exp(-z))) if act == "sigmoid" else np.tanh
    a1 = f(X @ params["W1"].T + params["b1"])
    yhat = 1 / (1 + np.exp(-(a1 @ params["w2"] + params["b2"])))
    if loss == "bce":
        terms = -(Y * np.log(yhat) + (1 - Y) * np.log(1 - yhat))
    else:
        terms = (yhat - Y) ** 2
    return float(np.mean(terms))


def _fd_grads(params, idx, act, loss, h=1e-6):
    out = {}
    for k, v in params.items():
        g = np.zeros_like(v)
        for j in np.ndindex(v.shape):
            plus = {kk: vv.copy() for kk, vv in params.items()}
            minus = {kk: vv.copy() for kk, vv in params.items()}
            plus[k][j] += h
            minus[k][j] -= h
            g[j] = (_numpy_mean_loss(plus, idx, act, loss) - _numpy_mean_loss(minus, idx, act, loss)) / (2 * h)
        out[k] = g
    return out


@pytest.mark.parametrize("case", ["full-bce", "full-mse-tanh", "mini2-bce-uneven", "mini2-shuffle"])
def test_gd_gradients_match_finite_differences(case):
    act, loss, *_ = GD_CASES[case]
    tr = _gd_training(case)
    shapes = {k: np.asarray(v, dtype=float).shape for k, v in START.items()}

    def params_at(u):
        return {k: np.asarray(tr.snapshots[u][k], dtype=float).reshape(shapes[k]).copy() for k in START}

    # (1) the gradient an update used: mean over its batch, at the parameters before it
    for u in (1, 2, len(tr.records)):
        rec = tr.records[u - 1]
        run = tr.update_run(u)
        fd = _fd_grads(params_at(u - 1), rec.examples, act, loss)
        for k in START:
            np.testing.assert_allclose(np.asarray(run.grads[k]).reshape(shapes[k]), fd[k], rtol=1e-6, atol=1e-8,
                                       err_msg=f"{k}, update {u}")
        # and the update is p − η·g
        lr = GD_CASES[case][2]
        for k in START:
            np.testing.assert_allclose(params_at(u)[k], params_at(u - 1)[k] - lr * np.asarray(
                run.grads[k]).reshape(shapes[k]), rtol=0, atol=1e-14)
    # (2) `grad(NAME)` at an epoch boundary: mean over ALL examples
    for k_epoch in (0, tr.epochs):
        snap = tr.epoch_end[k_epoch]
        run = tr.run_at(snap, None, target=tr.loss_target)
        fd = _fd_grads(params_at(snap), range(len(XD)), act, loss)
        for k in START:
            np.testing.assert_allclose(np.asarray(run.grads[k]).reshape(shapes[k]), fd[k], rtol=1e-6, atol=1e-8,
                                       err_msg=f"grad({k}) at epoch {k_epoch}")


def test_scenario_references_match_finite_differences():
    """`epoch(0).grad(W1)` in a scenario's expect resolves to the FD gradient of the mean loss."""
    s = open_session(str(SCENARIOS / "train-gd-step.yaml"))
    X = np.array([[1.0, 0], [0, 1], [1, 1]])
    Y = np.array([1.0, 0, 1])
    p0 = {"W1": np.array([[0.2, -0.3], [0.4, 0.1]]), "b1": np.array([0.0, 0.1]), "w2": np.array([0.5, -0.6]),
          "b2": np.array(0.2)}

    def mean_loss(p):
        a1 = 1 / (1 + np.exp(-(X @ p["W1"].T + p["b1"])))
        yhat = 1 / (1 + np.exp(-(a1 @ p["w2"] + p["b2"])))
        return float(np.mean((yhat - Y) ** 2))

    h = 1e-6
    for k, v in p0.items():
        for j in np.ndindex(v.shape):
            plus = {kk: np.array(vv, dtype=float) for kk, vv in p0.items()}
            minus = {kk: np.array(vv, dtype=float) for kk, vv in p0.items()}
            plus[k][j] += h
            minus[k][j] -= h
            fd = (mean_loss(plus) - mean_loss(minus)) / (2 * h)
            ref = f"epoch(0).grad({k})" + (f"[{', '.join(map(str, j))}]" if j else "")
            got = _eval_reference(s, ref)
            assert got == pytest.approx(fd, rel=1e-6, abs=1e-9), ref


def _eval_reference(session, ref):
    """Evaluate a qualified reference the way `check` does."""
    return float(np.asarray(session.evaluate(ref)).reshape(-1)[0])


# --------------------------------------------------------------------------- undo


def _update_steps(session, number):
    steps = session.steps
    g = session.train_steps.group
    return [steps[i] for i in range((number - 1) * g, number * g)]


@pytest.mark.parametrize("name", ["train-perceptron-and.yaml", "train-sgd-minibatch.yaml"])
def test_undo_through_updates(name):
    s = open_session(str(SCENARIOS / name))
    tr = s.training
    steps = s.steps
    g = s.train_steps.group
    assert len(steps) == g * len(tr.records)
    param = tr.params[0]

    def value(a):
        return np.asarray(a).reshape(-1).tolist()

    # walk the whole trace backward: every step shows the parameters of the update it belongs to
    for i in range(len(steps) - 1, -1, -1):
        st = steps[i]
        u = st.update
        assert st.epoch == tr.records[u - 1].epoch
        run = s.run_for(st)
        assert value(run.values[param]) == value(tr.snapshots[u - 1][param]), f"step {i}"

    # pick an update that changed the first parameter, and step back across its boundary
    u = next(r.number for r in tr.records if value(tr.snapshots[r.number][param]) != value(
        tr.snapshots[r.number - 1][param]) and r.number < len(tr.records))
    first_next = u * g                 # first step of update u + 1
    upd_step = next(st for st in _update_steps(s, u) if st.phase == UPDATE and st.node == param)
    assert steps[first_next].update == u + 1 and steps[first_next].phase == FORWARD
    after = s.run_for(steps[first_next]).values[param]
    before = s.run_for(steps[first_next - 1]).values[param]   # one step back: inside update u
    assert value(after) == value(tr.snapshots[u][param])
    assert value(before) == value(tr.snapshots[u - 1][param])
    assert value(before) != value(after)
    # the update step explains old → new; the one before it (previous update) ends at the old value
    ex = s.explain(upd_step)
    assert float(ex.value) == pytest.approx(float(np.asarray(tr.snapshots[u][param]).reshape(-1)[0]))
    prev = next(st for st in _update_steps(s, u - 1) if st.phase == UPDATE and st.node == param) if u > 1 else None
    if prev is not None:
        ex_prev = s.explain(prev)
        assert float(ex_prev.value) == pytest.approx(float(np.asarray(tr.snapshots[u - 1][param]).reshape(-1)[0]))
        assert float(ex_prev.value) != float(ex.value)
    # stepping forward again (redo) gives the same thing: nothing was mutated
    assert value(s.run_for(steps[first_next]).values[param]) == value(after)
    # forward steps of update u explain with update u's own example(s) and parameters
    fwd = next(st for st in _update_steps(s, u) if st.phase == FORWARD)
    s.explain(fwd)  # must not raise
    assert s.run_for(fwd) is s.run_for(steps[(u - 1) * g])


def test_perceptron_update_step_arithmetic_shows_old_and_new():
    s = open_session(str(SCENARIOS / "train-perceptron-and.yaml"))
    # update 4 is the first mistake: example (1, 1), w: (0, 0) → (1, 1)
    step = next(st for st in _update_steps(s, 4) if st.phase == UPDATE and st.node == "w")
    ex = s.explain(step, (0,))
    assert ex.value == 1
    assert ex.arithmetic.startswith("0 + 1·(1 − 0)")
    # one update back: the same parameter, still 0 (ŷ = y, no change)
    step3 = next(st for st in _update_steps(s, 3) if st.phase == UPDATE and st.node == "w")
    ex3 = s.explain(step3, (0,))
    assert ex3.value == 0 and "no change" in ex3.note


# ------------------------------------------------------------------ exact gradient descent

EXACT_GD_YAML = """\
nnlab: 1
title: t
values: {{w: [0.1, -0.2], b: 0.3}}
data:
  x: [[1, 0.5], [0.2, -1], [-0.4, 0.3], [0.5, 0.5]]
  y: [0.7, -0.1, 0.2, 0.1]
learn: [w, b]
compute:
  - z = w @ x + b
  - loss = mse(z, y)
train: {{rule: gd, loss: loss, lr: 0.1, epochs: 2, batch: {batch}}}
options: {{arithmetic: exact}}
"""


def _exact_gd_oracle(batch, epochs=2):
    """Linear neuron + mean squared error, minibatch GD in Fractions (the lecture's formula)."""
    X = [[Fraction(a) for a in row] for row in (["1", "0.5"], ["0.2", "-1"], ["-0.4", "0.3"], ["0.5", "0.5"])]
    Y = [Fraction(v) for v in ("0.7", "-0.1", "0.2", "0.1")]
    w, b, lr = [Fraction("0.1"), Fraction("-0.2")], Fraction("0.3"), Fraction("0.1")
    size = len(X) if batch == "full" else batch
    out = [(tuple(w), b)]
    for _ in range(epochs):
        for s in range(0, len(X), size):
            idx = range(s, min(s + size, len(X)))
            gw, gb = [Fraction(0), Fraction(0)], Fraction(0)
            for i in idx:
                d = 2 * (sum(wi * xi for wi, xi in zip(w, X[i])) + b - Y[i]) / len(idx)
                gw = [g + d * xi for g, xi in zip(gw, X[i])]
                gb += d
            w = [wi - lr * g for wi, g in zip(w, gw)]
            b -= lr * gb
            out.append((tuple(w), b))
    return out


@pytest.mark.parametrize("batch", [2, "full", 1])
def test_exact_gd_matches_fraction_oracle(batch):
    tr = train(loads(EXACT_GD_YAML.format(batch=batch), "t.yaml"))
    assert tr.arithmetic == "exact"
    got = [_wb(s) for s in tr.snapshots]
    assert all(isinstance(v, Fraction) for w, b in got for v in (*w, b)), "exact mode produced floats"
    assert got == _exact_gd_oracle(batch)
