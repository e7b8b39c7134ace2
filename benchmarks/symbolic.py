"""The chain for one element of the bundled 2-layer network, after sympy is loaded (target ≤ 300 ms).

Each sample is a fresh interpreter (so nothing of sympy's or nnlab's caches is warm
except what importing does): load the scenario, import sympy and nnlab.symbolic.chain,
then time the first ``chain_for(run, 'grad(W1)[0, 0]')``. Also reported: the same
call again (cached), every step's rule, and the whole-graph check.

``chain_refusal``: a chain through a 300×300 convolution (267,618 tensor elements) must be
refused from the sizes alone, before sympy builds anything: its time against loading and
running that scenario, measured in the same process (target ratio ≤ 0.25; about 0.02).
Run: python benchmarks/symbolic.py [SCENARIO] [REF]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = r"""
import json, sys, time
from nnlab.session import open_session
session = open_session(sys.argv[1])
t0 = time.perf_counter()
import sympy
from nnlab.symbolic.chain import chain_for
from nnlab.symbolic.rules import step_rule
from nnlab.symbolic.verify import verify_gradients
t1 = time.perf_counter()
chain = chain_for(session.run, sys.argv[2])
t2 = time.perf_counter()
chain_for(session.run, sys.argv[2])
t3 = time.perf_counter()
for step in session.steps:
    step_rule(session.run, step)
t4 = time.perf_counter()
report = verify_gradients(session.run)
t5 = time.perf_counter()
assert chain.agree and report.ok, (chain, report.summary)
print(json.dumps({"import": t1 - t0, "chain": t2 - t1, "cached": t3 - t2, "rules": t4 - t3,
                  "steps": len(session.steps), "verify": t5 - t4}))
"""


HUGE_CONV = ("nnlab: 1\ntitle: t\nvalues:\n  X: {shape: [300, 300], init: normal}\n"
             "  K: {shape: [3, 3], init: normal}\ncompute:\n  - Y = conv2d(X, K)\n"
             "  - loss = sum(Y)\nbackward: loss\n")
REFUSAL_TARGET = 0.25


def refusal() -> bool:
    """Refusing the chain through a huge convolution vs running it, median of 15 pairs."""
    import time

    from nnlab.engine.run import run_scenario
    from nnlab.errors import NnlabError
    from nnlab.scenario import loads
    from nnlab.symbolic.chain import chain_for

    runs, refusals = [], []
    for _ in range(15):
        t0 = time.perf_counter()
        run = run_scenario(loads(HUGE_CONV))
        t1 = time.perf_counter()
        try:
            chain_for(run, "grad(K)[0, 0]")
        except NnlabError as exc:
            assert "too large" in exc.message, exc.message
        else:
            raise AssertionError("the chain through a 300×300 convolution was not refused")
        refusals.append(time.perf_counter() - t1)
        runs.append(t1 - t0)
    ours, ref = statistics.median(refusals), statistics.median(runs)
    print(f"chain_refusal: refused in {ours * 1000:.1f} ms, running the scenario {ref * 1000:.0f} ms, "
          f"ratio {ours / ref:.3f} (target ≤ {REFUSAL_TARGET:g})", flush=True)
    return ours / ref <= REFUSAL_TARGET


def main() -> None:
    scenario = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "scenarios" / "mlp-2layer-backprop.yaml")
    ref = sys.argv[2] if len(sys.argv) > 2 else "grad(W1)[0, 0]"
    runs = []
    for _ in range(7):
        out = subprocess.run([sys.executable, "-c", SAMPLE, scenario, ref], capture_output=True, text=True,
                             check=True).stdout
        runs.append(json.loads(out))

    def ms(key: str) -> float:
        return statistics.median(r[key] for r in runs) * 1000

    print(f"chain_2layer: {ms('chain'):.0f} ms after sympy import (target ≤ 300 ms)")
    print(f"chain_2layer_cached: {ms('cached'):.3f} ms")
    print(f"sympy_import: {ms('import'):.0f} ms (sympy + nnlab.symbolic, paid once, only when asked for)")
    print(f"step_rules: {ms('rules'):.0f} ms for all {runs[0]['steps']} steps")
    print(f"verify_gradients: {ms('verify'):.0f} ms")
    if not refusal():
        sys.exit(1)


if __name__ == "__main__":
    import os

    os.environ["NNLAB_CACHE"] = "0"  # time the work itself, never a training read back from the cache
    main()
