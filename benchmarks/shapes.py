"""A shape question on VGG-16 (138,357,544 parameters) vs `python -c "import numpy, yaml"`.

`nnlab check scenarios/vgg16-params.yaml` answers from shape inference alone (no tensor is
made; the weights would be 1.1 GB in float64). Target: under 1 s, and ≤ 2.5× the bare
start measured in the same run (the rest of `nnlab check`'s start is already ≤ 1.5×, see
startup.py). Both run 20 times back to back in alternating pairs; the median of the pairs'
ratios and the commands' median times and peak RSS are printed.
Run: python benchmarks/shapes.py
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _time(cmd: list[str]) -> tuple[float, int]:
    """Seconds and the child's peak RSS (bytes) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=ENV)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(before, after) * 1024


def main() -> None:
    check = [sys.executable, "-m", "nnlab", "check", str(ROOT / "scenarios" / "vgg16-params.yaml")]
    base = [sys.executable, "-c", "import numpy, yaml"]
    for c in (check, base):  # warm the page cache
        _time(c)
    a, b, ratios = [], [], []
    for i in range(20):
        if i % 2:
            tb, ta = _time(base)[0], _time(check)[0]
        else:
            ta, tb = _time(check)[0], _time(base)[0]
        a.append(ta)
        b.append(tb)
        ratios.append(ta / tb)
    peak = _time(check)[1]  # RUSAGE_CHILDREN keeps the largest child so far: nnlab check is the largest
    print(f"shapes_vgg16: nnlab check vgg16-params {statistics.median(a) * 1000:.0f} ms, "
          f"bare start {statistics.median(b) * 1000:.0f} ms, ratio {statistics.median(ratios):.2f} (target ≤ 2.5)")
    print(f"shapes_vgg16_memory: nnlab {peak / 2**20:.0f} MB peak RSS (target ≤ 100 MB)")


if __name__ == "__main__":
    os.environ["NNLAB_CACHE"] = "0"  # time the work itself, never a training read back from the cache
    main()
