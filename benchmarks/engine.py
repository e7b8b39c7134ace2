"""Engine speed: nnlab's conv and pooling ops against PyTorch, measured in one run.

Run ``python benchmarks/engine.py`` (not part of pytest). Each case times forward +
backward (best of several repeats, ``time.perf_counter``) and prints one line::

    conv_alexnet: nnlab 20.1 ms, torch 19.8 ms, ratio 1.02 (target ≤ 1.5)

Why a ratio and not a time: machines differ, so the reference is measured in the
same process on the same data. Fairness:

* **Threads.** NumPy's BLAS and torch get the same thread count: ``$NNLAB_BENCH_THREADS``
  or the number of CPUs. It is put into ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` /
  ``MKL_NUM_THREADS`` *before NumPy is imported* (OpenBLAS reads them once at load),
  pinned again with threadpoolctl when that is installed, and passed to
  ``torch.set_num_threads``. The count used goes to stderr.
* **Same work.** float64 everywhere, one example (nnlab's batch-first arrays with
  B = 1), the same random upstream gradient; torch computes every gradient nnlab
  does (``requires_grad`` on input, kernel and bias).
* **Without torch** the reference is the naive loops of ``benchmarks/naive.py`` (a
  Python loop over output elements, NumPy inside each window) and nnlab must win by
  at least 100× (target ratio ≤ 0.01). For AlexNet's layer the loops run 4 of the 96
  filters and the time is scaled by 96/4 = 24 (the work is proportional to the
  number of filters).
  ``--naive`` forces this reference even when torch is installed.

The exit status is 1 if a case misses its target.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

THREADS = int(os.environ.get("NNLAB_BENCH_THREADS") or os.cpu_count() or 1)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402  (after the thread settings)

import naive  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from nnlab.engine.ops.conv import Conv2d  # noqa: E402
from nnlab.engine.ops.pool import MaxPool2d  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

RNG = np.random.default_rng(0)
PAUSE = 0.15
"""Seconds each turn waits first, for the other library's idle threads to stop spinning."""


@dataclass
class Case:
    """One benchmark: nnlab's forward+backward and the references for the same work.

    Attributes:
        name: Printed first on the line.
        target: Highest acceptable nnlab/torch time ratio.
        nnlab: Runs nnlab's forward and backward once.
        torch: Runs torch's forward and backward once (None without torch).
        naive: Runs the loop reference once (on a slice, see ``naive_scale``).
        naive_scale: Full-size naive time = measured time × this.
        repeats: Timings per turn (see :func:`best_ms`; there are 10 turns).
    """

    name: str
    target: float
    nnlab: Callable[[], object]
    torch: Callable[[], object] | None
    naive: Callable[[], object]
    naive_scale: float = 1.0
    repeats: int = 6


def best_ms(*fns: Callable[[], object], repeats: int, rounds: int = 10, pause: float = PAUSE) -> list[float]:
    """Best wall time of each function, in milliseconds.

    The functions take turns in ``rounds`` rounds; in each, a function waits
    ``pause`` seconds, is warmed up once and is then timed ``repeats`` times in a
    row. Why this shape:

    * **Turns.** They give each function the same process state: glibc's malloc
      adapts its mmap/trim thresholds to the allocations it has seen, and until it
      has, a large-array workload can spend a third of its time in page faults
      (whichever library ran first would pay for both); the warm-up call of each
      turn lets it adapt before anything is timed.
    * **Many short turns.** This 2-core VM's speed drifts by up to 1.5× over
      seconds; with 3 long turns a slow spell could cover most of one side's
      timings (the same build measured 1.22 and 1.58 in two processes). Ten turns
      spread both sides over the same spells.
    * **The pause.** After a threaded call, OpenBLAS's idle worker threads spin for
      about 0.13 s (2²⁸ cycles) and torch's OpenMP threads for a while too; without
      a pause they would still be spinning in the other library's turn.
    """
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for k, fn in enumerate(fns):
            time.sleep(pause)
            fn()
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                best[k] = min(best[k], time.perf_counter() - start)
    return [t * 1e3 for t in best]


def torch_fn(forward, *arrays, upstream):
    """A closure running ``forward`` on leaf tensors and backpropagating ``upstream``."""
    leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    g = torch.tensor(upstream)

    def run():
        for t in leaves:
            t.grad = None
        forward(*leaves).backward(g)
    return run


# ------------------------------------------------------------------------- cases


def conv_case(name, x_shape, k_shape, stride, padding, target, naive_slice=(None, None),
              repeats=6):
    """Conv layer with bias: X ``(C, H, W)``, K ``(F, C, kh, kw)``, one example.

    X ``(N, C, H, W)`` is a batch of N images inside that one example (nnlab's batch
    axis), against torch's ``conv2d`` on the same N×C×H×W tensor.
    """
    x, k, b = RNG.normal(size=x_shape), RNG.normal(size=k_shape), RNG.normal(size=k_shape[0])
    params = {"stride": stride, "padding": padding}
    g = RNG.normal(size=(1, *Conv2d(**params).infer(x_shape, k_shape, (k_shape[0],))))

    def ours():
        op = Conv2d(**params)
        op.forward(x[None], k[None], b[None])
        op.backward(g)

    batched = len(x_shape) == 4
    ref = None
    if torch is not None:
        ref = torch_fn(lambda x_, k_, b_: torch.nn.functional.conv2d(x_, k_, b_, stride, padding),
                       x if batched else x[None], k, b, upstream=g[0] if batched else g)
    filters, rows = naive_slice
    scale = (k_shape[0] / filters if filters else 1) * (g.shape[-2] / rows if rows else 1)
    pair = (stride, stride) if isinstance(stride, int) else tuple(stride)
    pads = (padding, padding) if isinstance(padding, int) else tuple(padding)
    if batched:   # the loops take one image: time the first and scale by N
        loops = lambda: naive.conv2d(x[0], k, b, pair, pads, g[0, 0], filters, rows)  # noqa: E731
        scale *= x_shape[0]
    else:
        loops = lambda: naive.conv2d(x, k, b, pair, pads, g[0], filters, rows)  # noqa: E731
    return Case(name, target, ours, ref, loops, scale, repeats)


def maxpool_case(name, x_shape, size, stride, target):
    """Max pooling on ``(C, H, W)``, one example (random data: no ties)."""
    x = RNG.normal(size=x_shape)
    g = RNG.normal(size=(1, *MaxPool2d(size=size, stride=stride).infer(x_shape)))

    def ours():
        op = MaxPool2d(size=size, stride=stride)
        op.forward(x[None])
        op.backward(g)

    ref = None
    if torch is not None:
        ref = torch_fn(lambda x_: torch.nn.functional.max_pool2d(x_, size, stride), x[None],
                       upstream=g)
    loops = lambda: naive.maxpool2d(x, (size, size), (stride, stride), g[0])  # noqa: E731
    return Case(name, target, ours, ref, loops, repeats=30)


# ============================================================================
# attention: the engine's whole path (attention composite expanded into its primitive
# steps, forward + backward through run_graph) against torch's scaled_dot_product_attention.
# ============================================================================
def attention_case(tokens: int = 512, d: int = 64, target: float = 2.0) -> Case:
    """Self-attention on ``tokens × d`` through the engine (graph run, recorded trace)."""
    from nnlab.engine.graph import build_graph
    from nnlab.engine.run import run_graph
    from nnlab.scenario import loads

    q, k, v, g = (RNG.normal(size=(tokens, d)) for _ in range(4))
    text = (f"nnlab: 1\ntitle: bench\nvalues:\n"
            f"  Q: {{shape: [{tokens}, {d}], init: normal, seed: 1}}\n"
            f"  K: {{shape: [{tokens}, {d}], init: normal, seed: 2}}\n"
            f"  V: {{shape: [{tokens}, {d}], init: normal, seed: 3}}\n"
            f"  G: {{shape: [{tokens}, {d}], init: normal, seed: 4}}\n"
            "compute:\n  - C = attention(Q, K, V)\n  - s = sum(C * G)\nbackward: s\n")
    graph = build_graph(loads(text))
    leaves = {n: a[None] for n, a in (("Q", q), ("K", k), ("V", v), ("G", g))}

    def ours():
        run_graph(graph, leaves, arithmetic="float64")

    ref = None
    if torch is not None:
        def fwd(q_, k_, v_, g_):
            return (torch.nn.functional.scaled_dot_product_attention(q_, k_, v_) * g_).sum()
        ref = torch_fn(fwd, q, k, v, g, upstream=np.array(1.0))
    rows = 8

    def loops():
        naive.attention(q, k, v, g, rows)
    return Case("attention", target, ours, ref, loops, tokens / rows, repeats=10)


def cases() -> list[Case]:
    """Every benchmark, in print order."""
    found = [
        conv_case("conv_alexnet", (3, 227, 227), (96, 3, 11, 11), 4, 0, 1.5,
                  naive_slice=(4, None)),
        conv_case("conv_mnist", (1, 28, 28), (8, 1, 3, 3), 1, 1, 2.0, repeats=30),
        conv_case("conv_batch", (8, 3, 64, 64), (16, 3, 3, 3), 1, 1, 2.0, naive_slice=(None, 8),
                  repeats=10),
        maxpool_case("maxpool", (96, 55, 55), 2, 2, 2.0),
        attention_case(),
    ]
    return [c for c in found if c is not None]


# -------------------------------------------------------------------------- main


def fmt_ms(ms: float) -> str:
    return f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--naive", action="store_true",
                        help="compare with benchmarks/naive.py even if torch is installed")
    parser.add_argument("--only", metavar="NAME", action="append",
                        help="run only this case (repeatable), e.g. --only attention")
    args = parser.parse_args(argv)
    use_torch = torch is not None and not args.naive
    limits = None
    try:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(THREADS)
    except ImportError:
        pass
    if use_torch:
        torch.set_num_threads(THREADS)
    print(f"# threads: {THREADS} (NumPy BLAS via OPENBLAS/OMP/MKL_NUM_THREADS"
          f"{' + threadpoolctl' if limits else ''}"
          f"{f', torch {torch.get_num_threads()}' if use_torch else ''})", file=sys.stderr)
    ok = True
    for case in cases():
        if args.only and case.name not in args.only:
            continue
        if use_torch:
            ours, ref = best_ms(case.nnlab, case.torch, repeats=case.repeats)
            label, target, ratio = "torch", case.target, f"{ours / ref:.2f}"
        else:
            (ours,) = best_ms(case.nnlab, repeats=case.repeats)
            ref = best_ms(case.naive, repeats=1, rounds=1, pause=0)[0] * case.naive_scale
            label, target, ratio = "naive", 0.01, f"{ours / ref:.2g}"
        ok &= ours / ref <= target
        print(f"{case.name}: nnlab {fmt_ms(ours)} ms, {label} {fmt_ms(ref)} ms,"
              f" ratio {ratio} (target ≤ {target:g})", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
