"""Per-op overhead: nnlab on the tiny networks students use, against micrograd and plain NumPy.

Run ``python benchmarks/overhead.py`` (``--only CASE`` for one). It prints one line per case::

    mlp_2_2_1: nnlab 52.1 us, micrograd 58.0 us, ratio 0.90 (target ≤ 1)
    mlp_2_8_1: nnlab 61.0 us, micrograd 170.2 us, ratio 0.36 (target ≤ 0.5)
    xor_10k: nnlab 0.81 s (target ≤ 1 s)
    xor_10k_numpy: nnlab 810 ms, numpy 430 ms, ratio 1.88 (target ≤ 2)
    check_xor_startup: nnlab check train-mlp-xor-gd 190 ms, import numpy+yaml 140 ms, ratio 1.36 (target ≤ 1.5)

**mlp_2_2_1 / mlp_2_8_1** — one forward + backward pass of a 2-H-1 sigmoid MLP on
ONE example with the binary cross-entropy, the bundled XOR scenario's network
(``z1 = W1 @ x + b1``, ``a1 = sigmoid(z1)``, ``z2 = w2 @ a1 + b2``, ``yhat =
sigmoid(z2)``, ``loss = bce(yhat, y)``) with H = 2 and H = 8. nnlab:
``run_graph(graph, target="loss")`` on a graph built once (what the lab and ``nnlab
run`` do for each run: every step recorded, the NaN/inf checks on). micrograd (the
PyPI package, ``pip install micrograd``; the ``bench`` extra): the same network built
from ``Value`` objects, which is its forward pass, then ``loss.backward()``.
micrograd's release has no ``sigmoid`` or ``log``; each is added the way micrograd
adds its ops (one node, its local derivative in ``_backward``; the lecture's
``tanh``/``exp``), and the loss is written as micrograd users write it
(``-(y·log ŷ + (1 − y)·log(1 − ŷ))``). Both give the same loss and gradients (checked
to 1e-12 before timing). Timed in this process, taking turns (:func:`best_ms`):
the best time per pass over runs of 200 passes.

**xor_10k** — ``nnlab.engine.train.train`` on the bundled ``train-mlp-xor-gd.yaml``
with ``epochs: 10000`` (10,000 full-batch updates, every one recorded so it can be
stepped through), wall time, best of 3. **xor_10k_numpy** compares it with the same
10,000 epochs written as a plain NumPy loop by hand, node by node as the graph reads
(``z1``, ``a1``, ``z2``, ``ŷ``, the loss, then the chain rule back through each), with
the formulas nnlab uses: the overflow-free sigmoid ``max(e, H(z))/(1 + e)`` with
``e = exp(−|z|)``, the logs clamped at −100 and ``p(1 − p)`` floored at 1e-12 in the BCE,
each update's mean loss recorded. It is checked to give **bitwise** the same final
weights and the same loss at every update before it is timed, so the ratio is what
nnlab's graph, records and checks cost over the arithmetic itself. For comparison a
second line gives the textbook loop (``1/(1 + e⁻ᶻ)``, the fused ``∂ℓ/∂z₂ = ŷ − y``, no
loss computed), which agrees to 1e-9 but not bitwise; it has no target.

**check_xor_startup** — ``nnlab check scenarios/train-mlp-xor-gd.yaml`` (load, 2,000
epochs of training, 14 answers checked) as a whole process against ``python -c
"import numpy, yaml"``: the median of 30 back-to-back pairs' ratios (as
``benchmarks/startup.py`` measures startup), with the training cache warm (what a student
re-checking edited answers gets: the training is read back, see
``nnlab/engine/train_cache.py``). **check_xor_cold** is the same with the cache off (every
check trains); it has no target.

The exit status is 1 if a case misses its target.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

XOR = ROOT / "scenarios" / "train-mlp-xor-gd.yaml"
TARGETS = {"mlp_2_2_1": 1.0, "mlp_2_8_1": 0.5, "xor_10k": 1.0, "xor_10k_numpy": 2.0, "check_xor_startup": 1.5}


# ----------------------------------------------------------------- micrograd


def micrograd_value():
    """micrograd's ``Value`` with ``sigmoid`` and ``log`` added the way micrograd adds ops
    (its release has neither): one node each, the local derivative in ``_backward``."""
    from micrograd.engine import Value

    def sigmoid(self):
        t = 1.0 / (1.0 + math.exp(-self.data))
        out = Value(t, (self,), "sigmoid")

        def _backward():
            self.grad += t * (1.0 - t) * out.grad
        out._backward = _backward
        return out

    def log(self):
        out = Value(math.log(self.data), (self,), "log")

        def _backward():
            self.grad += out.grad / self.data
        out._backward = _backward
        return out

    Value.sigmoid, Value.log = sigmoid, log
    return Value


def best_ms(*fns, repeats: int, rounds: int, pause: float = 0.02) -> list[float]:
    """Best wall time of each function in ms; the functions take turns (see ``engine.best_ms``)."""
    best = [math.inf] * len(fns)
    for _ in range(rounds):
        for k, fn in enumerate(fns):
            time.sleep(pause)
            fn()
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                best[k] = min(best[k], time.perf_counter() - start)
    return [t * 1e3 for t in best]


def mlp_values(hidden: int, seed: int = 0):
    """Weights of a 2-hidden-1 MLP, one example and its label (plain lists)."""
    rng = np.random.default_rng(seed)
    return {"W1": rng.normal(size=(hidden, 2)).round(3).tolist(), "b1": rng.normal(size=hidden).round(3).tolist(),
            "w2": rng.normal(size=hidden).round(3).tolist(), "b2": round(float(rng.normal()), 3),
            "x": [0.0, 1.0], "y": 1.0}


def micrograd_pass(V, p):
    """One forward + backward pass in micrograd; the loss and the parameters (with .grad)."""
    W1 = [[V(w) for w in row] for row in p["W1"]]
    b1 = [V(b) for b in p["b1"]]
    w2 = [V(w) for w in p["w2"]]
    b2 = V(p["b2"])
    x, y = p["x"], p["y"]
    a1 = [(sum((wi * xi for wi, xi in zip(row, x)), bi)).sigmoid() for row, bi in zip(W1, b1)]
    yhat = sum((wi * ai for wi, ai in zip(w2, a1)), b2).sigmoid()
    loss = -(yhat.log() * y + (1 - yhat).log() * (1 - y))
    loss.backward()
    return loss, {"W1": W1, "b1": b1, "w2": w2, "b2": b2}


def mlp_scenario(p):
    from nnlab.scenario import loads

    text = f"""\
nnlab: 1
title: overhead benchmark ({len(p['b1'])} hidden units, one example)
values:
  W1: {p['W1']}
  b1: {p['b1']}
  w2: {p['w2']}
  b2: {p['b2']}
data:
  x: [{p['x']}]
  y: [{p['y']}]
compute:
  - z1 = W1 @ x + b1
  - a1 = sigmoid(z1)
  - z2 = w2 @ a1 + b2
  - yhat = sigmoid(z2)
  - loss = bce(yhat, y)
"""
    return loads(text, "overhead-benchmark.yaml")


def mlp_case(hidden: int) -> bool:
    from nnlab.engine.graph import build_graph
    from nnlab.engine.run import run_graph

    name = f"mlp_2_{hidden}_1"
    V = micrograd_value()
    p = mlp_values(hidden)
    graph = build_graph(mlp_scenario(p))
    run = run_graph(graph, target="loss")
    loss, params = micrograd_pass(V, p)
    assert abs(run.value("loss") - loss.data) < 1e-12, (run.value("loss"), loss.data)
    for k, v in params.items():
        theirs = np.array([[e.grad for e in r] for r in v] if k == "W1" else [e.grad for e in v] if k != "b2"
                          else v.grad)
        assert np.allclose(run.grad(k), theirs, rtol=0, atol=1e-12), (k, run.grad(k), theirs)

    passes = 200

    def ours():
        for _ in range(passes):
            run_graph(graph, target="loss")

    def theirs():
        for _ in range(passes):
            micrograd_pass(V, p)

    t_ours, t_theirs = (t * 1000 / passes for t in best_ms(ours, theirs, repeats=5, rounds=10, pause=0.02))
    ratio = t_ours / t_theirs
    target = TARGETS[name]
    print(f"{name}: nnlab {t_ours:.1f} us, micrograd {t_theirs:.1f} us, ratio {ratio:.3f} (target ≤ {target:g})",
          flush=True)
    return ratio <= target


# ------------------------------------------------------------------- xor 10k


EPOCHS = 10_000


def xor_training_scenario():
    from nnlab.scenario import loads

    text = XOR.read_text()
    assert "epochs: 2000" in text, "train-mlp-xor-gd.yaml changed; update benchmarks/overhead.py"
    return loads(text.replace("epochs: 2000", f"epochs: {EPOCHS}"), str(XOR))


def xor_inputs(scenario):
    """The XOR network's start weights, examples, labels (float64) and learning rate."""
    weights = {k: scenario.values[k].array.astype(float) for k in ("W1", "b1", "w2", "b2")}
    return (weights, scenario.data["x"].array.astype(float), scenario.data["y"].array.astype(float),
            float(scenario.train["lr"]))


def numpy_xor(scenario):
    """The textbook loop (fused BCE-through-sigmoid gradient, no loss): a closure returning the final weights."""
    v, X, y, lr = xor_inputs(scenario)
    n = len(X)

    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    def loop():
        W1, b1, w2, b2 = v["W1"].copy(), v["b1"].copy(), v["w2"].copy(), float(v["b2"])
        for _ in range(EPOCHS):
            a1 = sigmoid(X @ W1.T + b1)
            yhat = sigmoid(a1 @ w2 + b2)
            dz2 = (yhat - y) / n                      # ∂L/∂z2 of the mean BCE through σ
            dz1 = np.outer(dz2, w2) * a1 * (1 - a1)
            W1 = W1 - lr * (dz1.T @ X)
            b1 = b1 - lr * dz1.sum(axis=0)
            w2 = w2 - lr * (a1.T @ dz2)
            b2 = b2 - lr * dz2.sum()
        return {"W1": W1, "b1": b1, "w2": w2, "b2": b2}

    return loop


def numpy_xor_same(scenario):
    """The loop with nnlab's formulas, node by node: a closure returning the final weights and every loss."""
    p0, X, y, lr = xor_inputs(scenario)
    n = len(X)

    def sigmoid(z):  # overflow-free: 1/(1 + e) for z ≥ 0, e/(1 + e) below, e = exp(−|z|)
        e = np.exp(-np.abs(z))
        return np.maximum(e, np.heaviside(z, 1.0)) / (e + 1.0)

    def loop():
        W1, b1 = p0["W1"].reshape(2, 2), p0["b1"].reshape(1, 2)
        w2, b2 = p0["w2"].reshape(1, 2), p0["b2"].reshape(1)
        losses = []
        with np.errstate(all="ignore"):
            for _ in range(EPOCHS):
                z1 = X @ W1.T
                z1 += b1
                a1 = sigmoid(z1)
                z2 = (w2 * a1).sum(axis=-1)
                z2 += b2
                yhat = sigmoid(z2)
                log_p = np.maximum(np.log(yhat), -100.0)              # logs clamped at −100
                log_q = np.maximum(np.log(1 - yhat), -100.0)
                loss = -(y * log_p + (1 - y) * log_q)
                losses.append(float(np.add.reduce(loss, axis=None)) / n)
                g = np.full(n, 1.0 / n)                                # ∂L/∂ℓ of the mean
                g = g * (yhat - y) / np.maximum(yhat * (1 - yhat), 1e-12)   # ∂L/∂ŷ
                g = g * (yhat * (1.0 - yhat))                          # ∂L/∂z2
                gw2 = np.add.reduce(g[:, None] * a1, axis=0, keepdims=True)
                gb2 = np.add.reduce(g, axis=0, keepdims=True)
                g = g[:, None] * w2                                    # ∂L/∂a1
                g = g * (a1 * (1.0 - a1))                              # ∂L/∂z1
                gW1 = np.ascontiguousarray(g.T) @ X
                gb1 = np.add.reduce(g, axis=0, keepdims=True)
                W1, b1, w2, b2 = (p + gp * -lr for p, gp in ((W1, gW1), (b1, gb1), (w2, gw2), (b2, gb2)))
        return {"W1": W1, "b1": b1, "w2": w2, "b2": b2}, losses

    return loop


def xor_cases() -> bool:
    from nnlab.engine.train import train

    scenario = xor_training_scenario()
    tr = train(scenario)
    same, textbook = numpy_xor_same(scenario), numpy_xor(scenario)
    final, losses = same()
    for k, w in final.items():  # bitwise: the same computation
        assert np.array_equal(np.asarray(tr.snapshots[-1][k]).reshape(w.shape), w), k
    assert [r.loss for r in tr.records] == losses
    for k, w in textbook().items():
        assert np.allclose(np.asarray(tr.snapshots[-1][k]).reshape(np.shape(w)), w, rtol=0, atol=1e-9), k
    t_ours, t_same, t_textbook = best_ms(lambda: train(scenario), same, textbook, repeats=1, rounds=3, pause=0.05)
    ok = t_ours <= TARGETS["xor_10k"] * 1000
    print(f"xor_10k: nnlab {t_ours / 1000:.2f} s (target ≤ {TARGETS['xor_10k']:g} s)", flush=True)
    ratio = t_ours / t_same
    print(f"xor_10k_numpy: nnlab {t_ours:.0f} ms, numpy (same formulas, bitwise equal) {t_same:.0f} ms, "
          f"ratio {ratio:.3f} (target ≤ {TARGETS['xor_10k_numpy']:g})", flush=True)
    print(f"  textbook NumPy loop (fused gradient, no loss): {t_textbook:.0f} ms, nnlab at "
          f"{t_ours / t_textbook:.2f}× it (no target)", flush=True)
    return ok and ratio <= TARGETS["xor_10k_numpy"]


# -------------------------------------------------------------- check startup


def check_startup() -> bool:
    import compileall
    import os
    import tempfile

    from startup import ENV, _pairs

    compileall.compile_dir(str(ROOT / "nnlab"), quiet=1)
    cmd = [sys.executable, "-m", "nnlab", "check", str(XOR)]
    base = [sys.executable, "-c", "import numpy, yaml"]
    target = TARGETS["check_xor_startup"]
    with tempfile.TemporaryDirectory() as cache:
        warm = {**ENV, "NNLAB_CACHE": "1", "NNLAB_CACHE_DIR": cache}
        ta, tb, ratio = _pairs(cmd, base, env=warm)  # (its first, untimed run writes the cache)
        assert os.listdir(cache), "the training was not saved"
    print(f"check_xor_startup: nnlab check train-mlp-xor-gd {ta:.0f} ms (training read back), "
          f"import numpy+yaml {tb:.0f} ms, ratio {ratio:.3f} (target ≤ {target:g})", flush=True)
    tc, tb2, cold = _pairs(cmd, base, pairs=10, env=ENV)
    print(f"  check_xor_cold: the same with the cache off (2,000 epochs trained) {tc:.0f} ms, "
          f"import numpy+yaml {tb2:.0f} ms, {cold:.2f}× (no target)", flush=True)
    return ratio <= target


CASES = {"mlp_2_2_1": lambda: mlp_case(2), "mlp_2_8_1": lambda: mlp_case(8), "xor_10k": xor_cases,
         "check_xor_startup": check_startup}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=tuple(CASES), help="run one case")
    args = ap.parse_args(argv)
    try:
        import micrograd  # noqa: F401
    except ImportError:
        print("micrograd is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    ok = True
    for name, case in CASES.items():
        if args.only in (None, name):
            start = time.perf_counter()
            ok &= case()
            print(f"  ({name}: {time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
