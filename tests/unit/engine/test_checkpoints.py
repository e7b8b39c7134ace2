"""Checkpointed training gives the values full snapshots give.

A training keeps its parameters every ``k`` updates and replays the rest on demand
(:class:`nnlab.engine.train.Snapshots`). Each test here trains the same scenario
twice — once keeping every update (``checkpoint_every=1``, what nnlab kept before
checkpoints) and once with a small interval so nearly every value is replayed — and
compares bit for bit: every snapshot, the records and facts, ``epoch(k).…`` and
``update(k).…`` references, checks, and the explanations of update steps.
"""

from __future__ import annotations

import random
import textwrap
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnlab.engine.train as train_mod
from nnlab.engine.trace import UPDATE
from nnlab.engine.train import Snapshots, checkpoint_bytes, checkpoint_interval, explain_update, train
from nnlab.scenario import loads
from nnlab.session import session_from_scenario

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"
TRAINING = sorted(p for p in SCENARIOS.glob("*.yaml") if "\ntrain:" in p.read_text())


def same(x, y) -> bool:
    """Bitwise equality of two values: dtype, shape and bytes (exact values: type and value)."""
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype != y.dtype or x.shape != y.shape:
        return False
    if x.dtype == object:
        return [(type(v), v) for v in x.reshape(-1)] == [(type(v), v) for v in y.reshape(-1)]
    return x.tobytes() == y.tobytes()


def same_params(a: dict, b: dict) -> bool:
    """Bitwise equality of two parameter dicts (same names in the same order)."""
    return list(a) == list(b) and all(same(a[k], b[k]) for k in a)


def assert_same_training(full, ck, order=None):
    """Every snapshot, record and fact of ``ck`` equals ``full``'s (``order``: the indices to visit, in turn)."""
    assert full.snapshots.interval == 1
    assert len(ck.snapshots) == len(full.snapshots)
    assert ck.records == full.records and ck.epoch_end == full.epoch_end
    assert ck.facts() == full.facts() and ck.summary() == full.summary()
    for u in order if order is not None else range(len(full.snapshots)):
        assert same_params(ck.snapshots[u], full.snapshots[u]), f"parameters after update {u}"


def interval(monkeypatch, k):
    """Make every training from here on keep a checkpoint every ``k`` updates."""
    monkeypatch.setattr(train_mod, "checkpoint_interval", lambda params, updates, budget=None: k)


# ------------------------------------------------------------------- bundled


@pytest.mark.parametrize("path", TRAINING, ids=lambda p: p.stem)
@pytest.mark.parametrize("k", [2, 3, 7])
@pytest.mark.parametrize("stored", ["rows", "arrays"])
def test_bundled_training_equals_full_snapshots(path, k, stored, monkeypatch):
    if stored == "arrays":  # as a large network's checkpoints are kept: the arrays themselves
        monkeypatch.setattr(Snapshots, "BLOCK_BYTES", 8)
    scenario = loads(path.read_text(), str(path))
    full = train(scenario, checkpoint_every=1)
    ck = train(scenario, checkpoint_every=k)
    assert ck.snapshots.checkpoints == -(-len(ck.snapshots) // k)
    n = len(full.snapshots)
    visits = list(range(n)) + list(reversed(range(n)))  # forward, then stepping back
    rng = random.Random(k)
    visits += [rng.randrange(n) for _ in range(50)]    # jumps
    assert_same_training(full, ck, visits[:3000] + visits[-100:])


@pytest.mark.parametrize("path", TRAINING, ids=lambda p: p.stem)
def test_bundled_references_checks_and_explanations_equal_full_snapshots(path, monkeypatch):
    scenario = loads(path.read_text(), str(path))
    interval(monkeypatch, 1)
    full = session_from_scenario(scenario)
    interval(monkeypatch, 3)
    ck = session_from_scenario(scenario)
    assert ck.training.snapshots.interval == 3 and full.training.snapshots.interval == 1
    # the scenario's own checks
    a, b = full.check(), ck.check()
    assert [(i.ref, i.ok, repr(i.actual), i.error, i.step) for i in a.items] == \
        [(i.ref, i.ok, repr(i.actual), i.error, i.step) for i in b.items]
    tr = full.training
    epochs = sorted(e for e in {0, 1, 2, tr.epochs // 2, tr.epochs - 1, tr.epochs} if 0 <= e <= tr.epochs)
    n = len(tr.records)
    updates = sorted(u for u in {0, 1, 2, 3, 4, 5, n // 3, n - 1, n} if 0 <= u <= n)
    refs = [f"epoch({e}).{p}" for e in epochs for p in tr.params]
    refs += [f"update({u}).{p}" for u in updates for p in tr.params]
    if tr.loss_target is not None:
        refs += [f"update({u}).grad({p})" for u in updates for p in tr.params]
    target = tr.config.loss or tr.config.z
    refs += [f"epoch({e}).{target}" for e in epochs]
    for ref in refs:
        x, y = full.evaluate(ref), ck.evaluate(ref)
        assert repr(x) == repr(y) and same(x, y), ref
    # update steps explained (the lab's update panel reads the same snapshots)
    steps = ck.steps
    for u in updates[1:]:
        for p in tr.params:
            ex_full = explain_update(full.training, u, p, (0,) * len(tr.graph.nodes[p].shape))
            ex_ck = explain_update(ck.training, u, p, (0,) * len(tr.graph.nodes[p].shape))
            assert ex_full == ex_ck, (u, p)
    # forward steps of an update see the same run
    for u in updates[1:]:
        first = steps[(u - 1) * steps.group]
        assert first.phase != UPDATE
        r_full, r_ck = full.run_for(first), ck.run_for(first)
        for name in r_full.values:
            assert same(r_full.values[name], r_ck.values[name]), name


def test_perceptron_cycle_is_found_exactly_with_checkpoints():
    text = (SCENARIOS / "train-perceptron-xor.yaml").read_text()
    scenario = loads(text, "xor.yaml")
    for k in (1, 2, 3, 5, 100):
        tr = train(scenario, checkpoint_every=k)
        assert (tr.cycle_start, tr.cycle_length, tr.converged) == (2, 1, False), k
        assert tr.mistakes == [2, 3, 4]


# ------------------------------------------------------------------ random


PERCEPTRON = """\
nnlab: 1
title: random perceptron
values: {{w: {w}, b: {b}}}
data:
  x: {x}
  y: {y}
learn: [w, b]
compute:
  - z = w @ x + b
  - yhat = step(z)
train: {{rule: perceptron, predict: yhat, target: y, lr: {lr}, epochs: {epochs}, order: {order}, seed: {seed}}}
"""

MLP = """\
nnlab: 1
title: random mlp
values:
  W1: {{shape: [{h}, {d}], init: normal, seed: {seed}, scale: 0.8}}
  b1: {{shape: [{h}], init: zeros}}
  w2: {{shape: [{h}], init: normal, seed: {seed2}, scale: 0.8}}
  b2: 0.1
data:
  x: {x}
  y: {y}
learn: [W1, b1, w2, b2]
compute:
  - z1 = W1 @ x + b1
  - a1 = {act}(z1)
  - z2 = w2 @ a1 + b2
  - yhat = sigmoid(z2)
  - loss = bce(yhat, y)
train: {{rule: gd, loss: loss, lr: {lr}, epochs: {epochs}, batch: {batch}, order: {order}, seed: {seed}}}
"""

LINEAR_EXACT = """\
nnlab: 1
title: random exact gd
values: {{w: {w}, b: {b}}}
data:
  x: {x}
  y: {y}
learn: [w, b]
compute:
  - yhat = w @ x + b
  - loss = (yhat - y) * (yhat - y)
train: {{rule: gd, loss: loss, lr: {lr}, epochs: {epochs}, batch: {batch}, order: {order}, seed: {seed}}}
options: {{arithmetic: exact}}
"""

decimals = st.sampled_from(["-1", "-0.5", "-0.3", "-0.1", "0", "0.1", "0.2", "0.5", "1", "2"])


@st.composite
def scenarios(draw):
    kind = draw(st.sampled_from(["perceptron", "mlp", "exact"]))
    n = draw(st.integers(1, 6))
    d = draw(st.integers(1, 3))
    order = draw(st.sampled_from(["sequential", "shuffle"]))
    seed = draw(st.integers(0, 50))

    def row():
        return "[" + ", ".join(draw(decimals) for _ in range(d)) + "]"

    x = "[" + ", ".join(row() for _ in range(n)) + "]"
    if kind == "perceptron":
        y = [draw(st.integers(0, 1)) for _ in range(n)]
        return PERCEPTRON.format(w=row(), b=draw(decimals), x=x, y=y, lr=draw(st.sampled_from(["1", "0.1", "0.5"])),
                                 epochs=draw(st.integers(1, 12)), order=order, seed=seed)
    batch = draw(st.sampled_from(["full", *map(str, range(1, n + 1))]))
    if kind == "mlp":
        y = [draw(st.integers(0, 1)) for _ in range(n)]
        return MLP.format(h=draw(st.integers(1, 3)), d=d, seed=seed, seed2=seed + 1, x=x, y=y,
                          act=draw(st.sampled_from(["sigmoid", "tanh", "relu"])),
                          lr=draw(st.sampled_from(["0.1", "0.5", "2"])), epochs=draw(st.integers(1, 15)),
                          batch=batch, order=order)
    y = "[" + ", ".join(draw(decimals) for _ in range(n)) + "]"
    return LINEAR_EXACT.format(w=row(), b=draw(decimals), x=x, y=y, lr=draw(st.sampled_from(["0.1", "0.05"])),
                               epochs=draw(st.integers(1, 4)), batch=batch, order=order, seed=seed)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=scenarios(), k=st.integers(2, 6), visits=st.lists(st.integers(0, 10_000), max_size=40))
def test_random_trainings_equal_full_snapshots(text, k, visits):
    scenario = loads(text, "random.yaml")
    full = train(scenario, checkpoint_every=1)
    ck = train(scenario, checkpoint_every=k)
    Snapshots.BLOCK_BYTES, block = 8, Snapshots.BLOCK_BYTES
    try:
        by_array = train(scenario, checkpoint_every=k + 1)  # checkpoints kept as the arrays themselves
    finally:
        Snapshots.BLOCK_BYTES = block
    assert by_array.snapshots._rows <= 1
    assert_same_training(full, by_array, [v % len(full.snapshots) for v in visits])
    n = len(full.snapshots)
    assert_same_training(full, ck, [v % n for v in visits] + list(range(n)))
    if full.arithmetic == "exact":
        assert all(isinstance(v, Fraction) for v in np.asarray(ck.snapshots[n // 2]["w"]).reshape(-1))
    for u in range(1, min(n, 6)):  # an update's own run (the lab's forward/backward steps)
        a, b = full.update_run(u), ck.update_run(u)
        assert a.values.keys() == b.values.keys()
        for name in a.values:
            assert same(a.values[name], b.values[name]), name


# -------------------------------------------------------------- the design


def test_interval_comes_from_the_parameter_size_and_the_budget():
    mlp = {"W1": np.zeros((1, 128, 784)), "b1": np.zeros((1, 128)), "W2": np.zeros((1, 10, 128)),
           "b2": np.zeros((1, 10))}
    assert checkpoint_bytes(mlp) == 8 * 101_770 + 128
    assert checkpoint_interval(mlp, 50 * 16) == 5           # 784-128-10, 50 epochs of 16 updates
    assert checkpoint_interval(mlp, 10 * 938) == 57          # ten MNIST epochs at batch 64
    xor = {"W1": np.zeros((1, 2, 2)), "b1": np.zeros((1, 2)), "w2": np.zeros((1, 2)), "b2": np.zeros((1,))}
    assert checkpoint_interval(xor, 100_000) == 1            # small networks keep every update
    assert checkpoint_interval(mlp, 10, budget=10**9) == 1


def test_a_large_training_keeps_checkpoints_only(monkeypatch):
    text = textwrap.dedent(MLP.format(h=3, d=2, seed=1, seed2=2, x=[[0, 0], [0, 1], [1, 0], [1, 1]], y=[0, 1, 1, 0],
                                      act="tanh", lr=1, epochs=40, batch=1, order="shuffle"))
    monkeypatch.setattr(train_mod, "CHECKPOINT_BUDGET", 4_000)
    monkeypatch.setattr(train_mod.checkpoint_interval, "__defaults__", (4_000,))
    tr = train(loads(text, "t.yaml"))
    k = tr.snapshots.interval
    assert k == checkpoint_interval(tr.snapshots[0], 160, 4_000) > 1
    assert tr.snapshots.checkpoints == -(-161 // k)
    assert tr.snapshots.checkpoints * checkpoint_bytes(tr.snapshots[0]) <= 4_000 + checkpoint_bytes(tr.snapshots[0])


def test_stepping_replays_one_update_at_a_time():
    text = MLP.format(h=2, d=2, seed=1, seed2=2, x=[[0, 0], [0, 1], [1, 0], [1, 1]], y=[0, 1, 1, 0], act="sigmoid",
                      lr=1, epochs=10, batch=1, order="sequential")
    tr = train(loads(text, "t.yaml"), checkpoint_every=8)
    snaps: Snapshots = tr.snapshots
    calls = []
    replay = snaps.replay()
    counting = lambda params, number: calls.append(number) or replay(params, number)  # noqa: E731
    snaps.replay = lambda: counting  # the snapshots hold their replay weakly: a call gives the function
    snaps.forget()
    snaps[7]                      # cold: the worst case, k − 1 updates from checkpoint 0
    assert calls == [1, 2, 3, 4, 5, 6, 7]
    calls.clear()
    for u in range(8, 20):        # stepping forward: a checkpoint or one update each
        snaps[u]
    assert calls == [9, 10, 11, 12, 13, 14, 15, 17, 18, 19]
    calls.clear()
    for u in reversed(range(8, 20)):  # stepping back through cached segments: nothing
        snaps[u]
    assert calls == []
    assert snaps[-1] is snaps[len(snaps) - 1] and snaps[len(snaps) - 1] is snaps._last
    with pytest.raises(IndexError):
        snaps[len(snaps)]


def test_checkpoints_keep_dtypes_even_when_they_change():
    from fractions import Fraction as F

    start = {"w": np.array([[1.5, 2.5]]), "n": np.array([[3]])}           # mixed: a dict per checkpoint
    snaps = Snapshots(start, 1)
    snaps.append({"w": np.array([[0.5, 1.0]]), "n": np.array([[4]])})
    snaps.append({"w": np.array([[0.0, 0.0]]), "n": np.array([[5]])})
    assert same_params(snaps[0], start) and snaps[1]["n"].dtype == np.array([[4]]).dtype
    exact = {"w": np.array([[F(1, 3)]], dtype=object)}
    snaps = Snapshots(exact, 1)
    snaps.append({"w": np.array([[0.25]])})                               # float after object: kept as float
    snaps.append({"w": np.array([[F(1, 7)]], dtype=object)})
    assert same_params(snaps[0], exact) and snaps[1]["w"].dtype == np.float64 and snaps[1]["w"][0, 0] == 0.25


def test_records_are_a_sequence_of_update_records():
    from nnlab.engine.train import Records, UpdateRecord

    recs = Records()
    made = [UpdateRecord(1, 1, (0,), True, 1), UpdateRecord(1, 2, (1,), False, 0),
            UpdateRecord(2, 3, (0, 1), True, loss=0.25)]
    for r in made:
        recs.append(r)
    assert list(recs) == made and recs == made and recs[-1] == made[-1] and recs[0:2] == made[0:2]
    assert recs.changed_count() == 2 and recs.last_changed_epoch() == 2
    with pytest.raises(ValueError):
        recs.append(UpdateRecord(2, 9, (0,), True))
    with pytest.raises(IndexError):
        recs[3]


def test_threads_stepping_at_once_see_the_same_parameters():
    from concurrent.futures import ThreadPoolExecutor

    text = MLP.format(h=3, d=2, seed=4, seed2=5, x=[[0, 0], [0, 1], [1, 0], [1, 1]], y=[0, 1, 1, 0], act="tanh",
                      lr=1, epochs=30, batch=1, order="shuffle")
    scenario = loads(text, "t.yaml")
    full, ck = train(scenario, checkpoint_every=1), train(scenario, checkpoint_every=9)
    us = [u for u in range(len(full.snapshots)) for _ in range(3)]
    random.Random(0).shuffle(us)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda u: (u, ck.snapshots[u]), us))
    assert all(same_params(params, full.snapshots[u]) for u, params in got)


def test_a_dropped_training_is_freed_without_the_cycle_collector():
    """The snapshots replay through the training weakly, so nothing cycles back to it: a batch command
    (``nnlab validate`` of many files) gives each training's memory back as soon as it moves on."""
    import gc
    import weakref

    text = MLP.format(h=2, d=2, seed=1, seed2=2, x=[[0, 0], [0, 1], [1, 0], [1, 1]], y=[0, 1, 1, 0], act="sigmoid",
                      lr=1, epochs=10, batch=1, order="sequential")
    enabled = gc.isenabled()
    gc.disable()
    try:
        tr = train(loads(text, "t.yaml"), checkpoint_every=8)
        kept = tr.snapshots[7]["W1"].copy()
        tr.snapshots.forget()
        assert np.array_equal(tr.snapshots[7]["W1"], kept)  # replayed through the training
        alive = weakref.ref(tr)
        snaps = weakref.ref(tr.snapshots)
        del tr
        assert alive() is None and snaps() is None
    finally:
        if enabled:
            gc.enable()
