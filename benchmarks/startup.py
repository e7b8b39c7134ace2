"""`nnlab check` as a whole process vs `python -c "import numpy, yaml"` (target ≤ 1.5×).

Both are started the same way, in 30 back-to-back pairs; the median of the pairs' time
ratios is printed.
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


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _time(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=ENV)
    return time.perf_counter() - t0


def main() -> None:
    scenario = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "scenarios" / "conv-lecture.yaml")
    check = [sys.executable, "-m", "nnlab", "check", scenario]
    base = [sys.executable, "-c", "import numpy, yaml"]
    # An installed package has its bytecode compiled by pip; do the same for a source checkout
    # (some environments set PYTHONDONTWRITEBYTECODE, which would make every start compile).
    compileall.compile_dir(str(ROOT / "nnlab"), quiet=1)
    for cmd in (check, base):  # warm the page cache
        _time(cmd)
    # Pairs run back to back share the machine's state of the moment (its speed drifts by up
    # to 1.5× over seconds here); the order alternates within pairs. The ratio printed is
    # the median of the pairs' ratios, the times the medians of each command.
    a, b, ratios = [], [], []
    for i in range(30):
        if i % 2:
            tb, ta = _time(base), _time(check)
        else:
            ta, tb = _time(check), _time(base)
        a.append(ta)
        b.append(tb)
        ratios.append(ta / tb)
    ta, tb = statistics.median(a) * 1000, statistics.median(b) * 1000
    ratio = statistics.median(ratios)
    print(f"check_startup: nnlab check {ta:.0f} ms, import numpy+yaml {tb:.0f} ms, ratio {ratio:.2f} (target ≤ 1.5)")


if __name__ == "__main__":
    main()
