"""BLAS threads by size: ``nnlab check`` of a 784-128-10 training on a busy and on a quiet machine.

Run ``python benchmarks/threads.py``. It prints two lines::

    threads_busy: nnlab 700 ms, one BLAS thread 690 ms, ratio 1.01 (target ≤ 1.3)
    threads_quiet: nnlab 650 ms, default BLAS threads 660 ms, ratio 0.98 (target ≤ 1.1)

The workload is ``nnlab check`` of a scenario file (written to a temporary directory):
the 784-128-10 ReLU MLP of ``benchmarks/train.py`` (softmax cross-entropy, float64,
1,024 random examples, batch 64) trained for 5 epochs (80 updates), each run a whole
process. nnlab picks the BLAS threads per product (:mod:`nnlab.engine.blas`: one
thread under 6.7·10⁷ multiply-adds, the machine's threads above).

**threads_busy** — with one CPU-bound process running beside it (``python -c "while
1: pass"``, started for these runs only), nnlab against the same command with
``OPENBLAS_NUM_THREADS=1`` (what a user on a busy machine would do by hand). Before
the per-call choice, the default threads made this 4.5–8.3× slower.

**threads_quiet** — without that process, nnlab against the same command with the
BLAS's own default threads (``nnlab.engine.blas.enabled = False``, i.e. nnlab as it
was): nothing may get slower by more than 10 %. ("Quiet" means no load added by the
benchmark; other work on the machine stays — its load average is printed to stderr.)

Each pair of commands runs back to back, order alternating, 7 pairs; the ratio is the
median of the pairs' ratios (as ``benchmarks/startup.py`` does). A line to stderr
also gives the busy machine's default-thread figure. The exit status is 1 if a case
misses its target.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

EPOCHS = 5
PAIRS = 7
BUSY_TARGET, QUIET_TARGET = 1.3, 1.1


def _time(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.strip()[-300:]}")
    return time.perf_counter() - t0


def pairs(a: tuple[list[str], dict], b: tuple[list[str], dict]) -> tuple[float, float, float]:
    """Median times (ms) of two commands and the median of their pairs' ratios."""
    for cmd in (a, b):
        _time(*cmd)
    ta, tb, ratios = [], [], []
    for i in range(PAIRS):
        if i % 2:
            y, x = _time(*b), _time(*a)
        else:
            x, y = _time(*a), _time(*b)
        ta.append(x)
        tb.append(y)
        ratios.append(x / y)
    return statistics.median(ta) * 1e3, statistics.median(tb) * 1e3, statistics.median(ratios)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mnist-784-128-10.yaml"
        path.write_text(scenario_text())
        env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
        nnlab = ([sys.executable, "-m", "nnlab", "check", str(path)], env)
        one = ([sys.executable, "-m", "nnlab", "check", str(path)], {**env, "OPENBLAS_NUM_THREADS": "1",
                                                                      "OMP_NUM_THREADS": "1"})
        default = ([sys.executable, "-c", "import sys, nnlab.engine.blas as b; b.enabled = False; "
                    "from nnlab.cli import main; sys.exit(main(sys.argv[1:]))", "check", str(path)], env)
        ok = True
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", file=sys.stderr)
        spinner = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
        try:
            ta, tb, ratio = pairs(nnlab, one)
            print(f"threads_busy: nnlab {ta:.0f} ms, one BLAS thread {tb:.0f} ms, ratio {ratio:.2f} "
                  f"(target ≤ {BUSY_TARGET:g})", flush=True)
            ok &= ratio <= BUSY_TARGET
            td, tb1, before = pairs(default, one)
            print(f"  (busy, default BLAS threads as before: {td:.0f} ms, {before:.2f}× one thread)", file=sys.stderr)
        finally:
            spinner.kill()
            spinner.wait()
        ta, tb, ratio = pairs(nnlab, default)
        print(f"threads_quiet: nnlab {ta:.0f} ms, default BLAS threads {tb:.0f} ms, ratio {ratio:.2f} "
              f"(target ≤ {QUIET_TARGET:g})", flush=True)
        ok &= ratio <= QUIET_TARGET
    return 0 if ok else 1


def scenario_text() -> str:
    """The 784-128-10 scenario of ``benchmarks/train.py`` (its sizes) for :data:`EPOCHS` epochs, as file text."""
    import numpy as np

    import train as tb  # benchmarks/train.py: N, D, H, K, BATCH, LR

    y = np.random.default_rng(0).integers(0, tb.K, size=tb.N).tolist()
    return f"""\
nnlab: 1
title: threads benchmark (784-128-10, batch 64, {EPOCHS} epochs)
values:
  W1: {{shape: [{tb.H}, {tb.D}], init: normal, seed: 1, scale: 0.05}}
  b1: {{shape: [{tb.H}], init: zeros}}
  W2: {{shape: [{tb.K}, {tb.H}], init: normal, seed: 2, scale: 0.1}}
  b2: {{shape: [{tb.K}], init: zeros}}
data:
  x: {{shape: [{tb.N}, {tb.D}], init: normal, seed: 3}}
  y: {y}
learn: [W1, b1, W2, b2]
compute:
  - h = relu(W1 @ x + b1)
  - f = W2 @ h + b2
  - loss = cross_entropy(f, y)
train: {{rule: gd, loss: loss, lr: {tb.LR}, epochs: {EPOCHS}, batch: {tb.BATCH}, order: sequential}}
expect:
  train.epochs: {EPOCHS}
"""


if __name__ == "__main__":
    os.environ["NNLAB_CACHE"] = "0"  # time the work itself, never a training read back from the cache
    sys.exit(main())
