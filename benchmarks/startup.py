"""Whole nnlab processes vs `python -c "import numpy, yaml"`, started the same way.

- `nnlab check SCENARIO` (target ≤ 1.5×),
- `nnlab list` (target ≤ 1.1×: it reads the title of every bundled scenario),
- `nnlab validate` of the 31 files bundled when issue #17 set its target (≤ 2×: it loads
  and runs all of them); the same for every bundled file is printed below it, without a
  target (the 12 added since — VGG-16, batch convolutions, LSTM — weigh more per file),

each in 30 back-to-back pairs with the bare start; the median of the pairs' time ratios
is printed. YAML goes through libyaml when PyYAML has it (``yaml.__with_libyaml__``).
Run: python benchmarks/startup.py [SCENARIO]
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# No training cache: these commands are timed doing their work (overhead.py times check with it)
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "NNLAB_CACHE": "0"}


def _time(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env or ENV)
    return time.perf_counter() - t0


def _pairs(cmd: list[str], base: list[str], pairs: int = 30,
           env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Median times (ms) of ``cmd`` (in ``env``, default :data:`ENV`) and ``base`` and the median of
    their pairs' ratios."""
    for c in (cmd, base):  # warm the page cache
        _time(c, env)
    # Pairs run back to back share the machine's state of the moment (its speed drifts by up
    # to 1.5× over seconds here); the order alternates within pairs. The ratio printed is
    # the median of the pairs' ratios, the times the medians of each command.
    a, b, ratios = [], [], []
    for i in range(pairs):
        if i % 2:
            tb, ta = _time(base), _time(cmd, env)
        else:
            ta, tb = _time(cmd, env), _time(base)
        a.append(ta)
        b.append(tb)
        ratios.append(ta / tb)
    return statistics.median(a) * 1000, statistics.median(b) * 1000, statistics.median(ratios)


def main() -> None:
    scenario = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "scenarios" / "conv-lecture.yaml")
    nnlab = [sys.executable, "-m", "nnlab"]
    base = [sys.executable, "-c", "import numpy, yaml"]
    # An installed package has its bytecode compiled by pip; do the same for a source checkout
    # (some environments set PYTHONDONTWRITEBYTECODE, which would make every start compile).
    compileall.compile_dir(str(ROOT / "nnlab"), quiet=1)
    bundled = sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))
    first = [str(ROOT / "scenarios" / name) for name in ISSUE_31 if (ROOT / "scenarios" / name).exists()]
    cases = (("check_startup", "nnlab check", [*nnlab, "check", scenario], 1.5),
             ("list_startup", "nnlab list", [*nnlab, "list"], 1.1),
             ("validate_issue_31", f"nnlab validate (the {len(first)} files of the issue)",
              [*nnlab, "validate", *first], 2.0))
    for name, what, cmd, target in cases:
        ta, tb, ratio = _pairs(cmd, base)
        print(f"{name}: {what} {ta:.0f} ms, import numpy+yaml {tb:.0f} ms, ratio {ratio:.2f} (target ≤ {target})")
    ta, tb, ratio = _pairs([*nnlab, "validate", *bundled], base)
    print(f"  validate_bundled: nnlab validate of all {len(bundled)} bundled files {ta:.0f} ms, "
          f"import numpy+yaml {tb:.0f} ms, {ratio:.2f}× (no target: issue #17 set it on the 31 above)")


# Issue #17 set its validate target on the 31 files bundled then (commit b718986).
ISSUE_31 = """
attention-causal attention-weights bce-quiz conv-alexnet-params conv-bias conv-lecture conv-multichannel
conv-multifilter conv-output-shape-quiz conv-padding conv-stride gru-step gru-two-steps l2-regularization
lstm-step mlp-2layer-backprop mlp-param-count neuron-forward pool-max-avg regression-mse rnn-sequence
softmax-cross-entropy train-gd-step train-mlp-xor-gd train-perceptron-and train-perceptron-nand-decimal
train-perceptron-or train-perceptron-xor train-sgd-minibatch transformer-block vanishing-gradients
""".split()
ISSUE_31 = [f"{name}.yaml" for name in ISSUE_31]


if __name__ == "__main__":
    main()
