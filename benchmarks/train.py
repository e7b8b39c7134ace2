"""Training memory, stepping and speed: nnlab's ``train`` on three workloads (not part of pytest).

Run ``python benchmarks/train.py`` (``--only CASE`` for one). It prints one line per case::

    gd_xor_100k: nnlab +16.9 MB peak over import-only, import-only 33.4 MB (target ≤ 50 MB)
    gd_mnist_50: nnlab +122.8 MB peak over import-only, import-only 53.2 MB (target ≤ 200 MB)
    step_worst: nnlab 3.7 ms to update 404 (4 update(s) replayed, …), one update's run 1.1 ms (target ≤ 16 ms)
    sgd_mnist_epoch: nnlab 180 ms, torch 120 ms, ratio 1.50 (target ≤ 2)

**gd_xor_100k** — 100,000 full-batch gradient-descent epochs of a 2-2-1 sigmoid MLP
on XOR (the bundled ``train-mlp-xor-gd.yaml`` with ``epochs: 100000``) through
``nnlab.engine.train.train(scenario)``. Both measurements run in fresh
subprocesses: one imports nnlab's modules (``nnlab``, ``nnlab.scenario``,
``nnlab.engine.train``), loads the scenario and stops; the other does the same and
then trains. The figure is the difference of their peak resident set sizes
(``ru_maxrss``): what training itself costs, i.e. the parameter checkpoints and the
100,000 update records nnlab keeps so every update can be stepped through and
undone. ``--tracemalloc`` adds a third subprocess reporting the peak of Python
allocations during ``train`` (slower; it explains where the memory goes).

**gd_mnist_50** — the same measurement for 50 epochs of minibatch SGD (batch 64,
1,024 random examples, 800 updates) on a 784-128-10 MLP (ReLU hidden layer,
softmax cross-entropy), float64: 0.8 MB of parameters an update, so a
checkpoint every few updates (``CHECKPOINT_BUDGET``) instead of every update
(≈ 620 MB before checkpoints).

**step_worst** — the slowest step to that training's parameters: the last update
of a checkpoint interval in the middle of the run, with the replay cache emptied,
so ``k − 1`` updates are replayed from the checkpoint (best of 5). Beside it, one
update's own forward/backward run (``update_run``), which the lab computes for
every step it shows anyway. Target: one frame at 60 Hz.

**sgd_mnist_epoch** — one epoch of the same SGD (16 updates), nnlab's ``train``
(graph building and checkpoints included) against the same loop in PyTorch CPU
(``torch.optim.SGD``, the same start weights, data and batches), measured in this
process, taking turns, best of several repeats. Threads: ``$NNLAB_BENCH_THREADS`` or
the CPU count, put into the BLAS/OpenMP variables before NumPy is imported and
passed to ``torch.set_num_threads``. The two results are compared (same final
weights to 1e-9) so both do the same work. Without torch the line says so and has
no ratio.

The exit status is 1 if a case misses its target.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

THREADS = int(os.environ.get("NNLAB_BENCH_THREADS") or os.cpu_count() or 1)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

XOR_EPOCHS = 100_000
XOR_MEM_TARGET_MB = 50.0
MNIST_EPOCHS = 50
MNIST_MEM_TARGET_MB = 200.0
STEP_TARGET_MS = 16.0
RATIO_TARGET = 2.0


# ------------------------------------------------------------------ gd_xor_100k


def xor_scenario():
    """The bundled XOR MLP scenario, run for 100,000 epochs."""
    from nnlab.scenario import loads

    path = ROOT / "scenarios" / "train-mlp-xor-gd.yaml"
    text = path.read_text()
    assert "epochs: 2000" in text, "train-mlp-xor-gd.yaml changed; update benchmarks/train.py"
    return loads(text.replace("epochs: 2000", f"epochs: {XOR_EPOCHS}"), str(path))


CASES = {"xor": lambda: xor_scenario(), "mnist": lambda: mnist_scenario(MNIST_EPOCHS)}


def child(mode: str, case: str) -> dict:
    """Body of a measuring subprocess; returns what it measured."""
    import resource

    import nnlab  # noqa: F401
    import nnlab.engine.train as train_mod

    scenario = CASES[case]()
    out: dict = {}
    if mode == "train":
        start = time.perf_counter()
        tr = train_mod.train(scenario)
        out["seconds"] = time.perf_counter() - start
        out["updates"] = len(tr.records)
        out["final_loss"] = tr.records[-1].loss
        out["interval"] = getattr(tr.snapshots, "interval", 1)
    elif mode == "tracemalloc":
        import tracemalloc

        tracemalloc.start()
        tr = train_mod.train(scenario)
        current, peak = tracemalloc.get_traced_memory()
        out["traced_peak_mb"] = peak / 2**20
        out["traced_kept_mb"] = current / 2**20
        snap = tracemalloc.take_snapshot()
        out["top"] = [f"{s.size / 2**20:.1f} MB {s.traceback[0].filename.split('/nnlab/')[-1]}:"
                      f"{s.traceback[0].lineno}" for s in snap.statistics("lineno")[:5]]
        out["snapshots"] = len(tr.snapshots)
    out["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return out


def run_child(mode: str, case: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", mode, case], capture_output=True, text=True,
                          check=True, env=os.environ.copy())
    return json.loads(proc.stdout.strip().splitlines()[-1])


def memory_case(name: str, case: str, target_mb: float, with_tracemalloc: bool) -> bool:
    """Peak RSS of training over an import-and-load-only process (both fresh subprocesses)."""
    base = run_child("import", case)
    trained = run_child("train", case)
    extra_mb = (trained["maxrss_kb"] - base["maxrss_kb"]) / 1024
    ok = extra_mb <= target_mb
    print(f"{name}: nnlab +{extra_mb:.1f} MB peak over import-only, import-only {base['maxrss_kb'] / 1024:.1f} MB "
          f"(target ≤ {target_mb:.0f} MB)", flush=True)
    print(f"  ({trained['updates']} updates in {trained['seconds']:.2f} s, final mean loss "
          f"{trained['final_loss']:.6f}, checkpoint every {trained['interval']} update(s); peak RSS "
          f"{trained['maxrss_kb'] / 1024:.1f} MB)", file=sys.stderr)
    if with_tracemalloc:
        tm = run_child("tracemalloc", case)
        print(f"  tracemalloc: peak {tm['traced_peak_mb']:.1f} MB of Python allocations during train, "
              f"{tm['traced_kept_mb']:.1f} MB kept ({tm['snapshots']} snapshots); top lines:", file=sys.stderr)
        for line in tm["top"]:
            print(f"    {line}", file=sys.stderr)
    return ok


# ------------------------------------------------------------- sgd_mnist_epoch

N, D, H, K, BATCH, LR = 1024, 784, 128, 10, 64, 0.1


def mnist_scenario(epochs: int = 1):
    """A 784-128-10 ReLU MLP with softmax cross-entropy on 1,024 random examples."""
    import numpy as np

    from nnlab.scenario import loads

    y = np.random.default_rng(0).integers(0, K, size=N).tolist()
    text = f"""\
nnlab: 1
title: sgd benchmark (784-128-10, batch 64)
values:
  W1: {{shape: [{H}, {D}], init: normal, seed: 1, scale: 0.05}}
  b1: {{shape: [{H}], init: zeros}}
  W2: {{shape: [{K}, {H}], init: normal, seed: 2, scale: 0.1}}
  b2: {{shape: [{K}], init: zeros}}
data:
  x: {{shape: [{N}, {D}], init: normal, seed: 3}}
  y: {y}
learn: [W1, b1, W2, b2]
compute:
  - h = relu(W1 @ x + b1)
  - f = W2 @ h + b2
  - loss = cross_entropy(f, y)
train: {{rule: gd, loss: loss, lr: {LR}, epochs: {epochs}, batch: {BATCH}, order: sequential}}
"""
    return loads(text, "sgd-benchmark.yaml")


def best_ms(*fns, repeats: int = 5, rounds: int = 5) -> list[float]:
    """Best wall time of each function in ms (see engine.best_ms: they take turns)."""
    from engine import best_ms as take_turns

    return take_turns(*fns, repeats=repeats, rounds=rounds)


def sgd_mnist_epoch() -> bool:
    import numpy as np

    from nnlab.engine.train import train

    try:
        import torch
    except ImportError:
        torch = None
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(THREADS)
    except ImportError:
        pass

    scenario = mnist_scenario()

    def ours():
        return train(scenario)

    if torch is None:
        (t_nnlab,) = best_ms(ours)
        print(f"sgd_mnist_epoch: nnlab {t_nnlab:.0f} ms, torch not installed (no ratio)")
        return True

    torch.set_num_threads(THREADS)
    start = {k: scenario.values[k].array.astype(np.float64) for k in ("W1", "b1", "W2", "b2")}
    X = torch.tensor(scenario.data["x"].array, dtype=torch.float64)
    Y = torch.tensor(scenario.data["y"].array, dtype=torch.long)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in start.items()}

    def reference():
        with torch.no_grad():
            for k, v in start.items():
                params[k].copy_(torch.from_numpy(v))
        opt = torch.optim.SGD(list(params.values()), lr=LR)
        for s in range(0, N, BATCH):
            opt.zero_grad()
            f = torch.relu(X[s:s + BATCH] @ params["W1"].T + params["b1"]) @ params["W2"].T + params["b2"]
            torch.nn.functional.cross_entropy(f, Y[s:s + BATCH]).backward()
            opt.step()
        return params

    # same work: the same final weights
    tr = ours()
    reference()
    for k, p in params.items():
        mine = np.asarray(tr.snapshots[-1][k], dtype=float).reshape(p.shape)
        assert np.allclose(mine, p.detach().numpy(), rtol=0, atol=1e-9), f"nnlab and torch differ in {k}"
    assert len(tr.records) == N // BATCH

    t_nnlab, t_torch = best_ms(ours, reference)
    ratio = t_nnlab / t_torch
    print(f"sgd_mnist_epoch: nnlab {t_nnlab:.0f} ms, torch {t_torch:.0f} ms, ratio {ratio:.2f} "
          f"(target ≤ {RATIO_TARGET:g})", flush=True)
    return ratio <= RATIO_TARGET


# ------------------------------------------------------------------ step_worst


def step_worst() -> bool:
    """The slowest step to a training's parameters: the last update of a checkpoint interval, cold.

    The 50-epoch 784-128-10 training keeps a checkpoint every k updates; the
    parameters after update c + k − 1 (c a checkpoint) are recomputed by replaying
    k − 1 updates. Timed with the segment cache emptied each time (best of 5),
    against one update's own run (``update_run``), which the lab computes for every
    step it shows anyway.
    """
    from nnlab.engine.train import train

    tr = train(mnist_scenario(MNIST_EPOCHS))
    snaps = tr.snapshots
    k = getattr(snaps, "interval", 1)
    u = min(k - 1, len(tr.records) - 1) if k > 1 else 1
    u += k * (len(tr.records) // k // 2)  # a segment in the middle

    def cold():
        if hasattr(snaps, "forget"):
            snaps.forget()
        tr._cache.clear()
        return snaps[u]

    def one_update():
        tr._cache.clear()
        return tr.update_run(u)

    t_step, t_update = best_ms(cold, one_update, repeats=1, rounds=5)
    ok = t_step <= STEP_TARGET_MS
    print(f"step_worst: nnlab {t_step:.1f} ms to update {u} ({k - 1} update(s) replayed, checkpoint every {k}), "
          f"one update's run {t_update:.1f} ms (target ≤ {STEP_TARGET_MS:g} ms)", flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", nargs=2, metavar=("MODE", "CASE"), help=argparse.SUPPRESS)
    ap.add_argument("--tracemalloc", action="store_true", help="also report tracemalloc's view of the memory cases")
    ap.add_argument("--only", choices=("gd_xor_100k", "gd_mnist_50", "step_worst", "sgd_mnist_epoch"),
                    help="run one case")
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    print(f"threads: {THREADS}", file=sys.stderr)
    ok = True
    if args.only in (None, "gd_xor_100k"):
        ok &= memory_case("gd_xor_100k", "xor", XOR_MEM_TARGET_MB, args.tracemalloc)
    if args.only in (None, "gd_mnist_50"):
        ok &= memory_case("gd_mnist_50", "mnist", MNIST_MEM_TARGET_MB, args.tracemalloc)
    if args.only in (None, "step_worst"):
        ok &= step_worst()
    if args.only in (None, "sgd_mnist_epoch"):
        ok &= sgd_mnist_epoch()
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ["NNLAB_CACHE"] = "0"  # time the work itself, never a training read back from the cache
    sys.exit(main())
