"""Diagnosing one wrong answer of the bundled 2-layer network, in-process (target ≤ 200 ms).

The scenario's own 17 answers with one made wrong, in two ways: a mistake the catalog
knows (∂ℓ/∂W1[0,0] without σ′, found as ``activation-derivative-missing``) and a random
number that nothing reproduces (every alternative is tried, the worst case). Timed is
``Session.check()`` — the plain check plus follow-through and the catalog — after one
warm-up, median of 15. Printed beside it: the plain check of the same answers
(``diagnose=False``), measured in the same run.
Run: python benchmarks/diagnosis.py
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _median(fn, n: int = 15) -> float:
    fn()
    times = []
    for _ in range(n):
        time.sleep(0.02)
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    from nnlab.session import open_session

    session = open_session(str(ROOT / "scenarios" / "mlp-2layer-backprop.yaml"))
    expect = session.scenario.expect
    k = next(i for i, e in enumerate(expect) if e.ref == "grad(W1)[0, 0]")
    for name, answer, want in (("known", -0.1039, "activation-derivative-missing"), ("random", 0.3717, None)):
        entries = expect[:k] + (expect[k]._replace(answer=answer),) + expect[k + 1:]
        item = session.check(entries).items[k]
        assert not item.ok and [f.id for f in item.diagnosis][:1] == ([want] if want else []), item
        diag = _median(lambda: session.check(entries))
        plain = _median(lambda: session.check(entries, diagnose=False))
        print(f"diagnose_mlp_{name}: {diag:.1f} ms for one wrong answer of 17 (plain check {plain:.1f} ms), "
              f"target ≤ 200 ms")


if __name__ == "__main__":
    import os

    os.environ["NNLAB_CACHE"] = "0"  # time the work itself, never a training read back from the cache
    main()
