"""``nnlab export`` of the largest bundled scenario, whole command (target ≤ 2 s per format).

The largest bundled scenario is the longest file in ``scenarios/``; the same is
measured for the scenario slowest to export (found in one process first). Each sample is
``python -m nnlab export FILE --to FMT --answers --out …`` in a fresh interpreter
(start-up, imports, loading, running, checking and writing included), median of 3.
Run: python benchmarks/export.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 2.0


def command_seconds(path: Path, fmt: str, out: Path) -> float:
    samples = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nnlab", "export", str(path), "--to", fmt, "--answers",
                        "--out", str(out)], check=True, cwd=ROOT, capture_output=True)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def slowest_in_process() -> tuple[str, float]:
    from nnlab.export import export
    from nnlab.export.document import Options
    from nnlab.session import open_session

    worst = ("", 0.0)
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        session = open_session(str(path))
        t0 = time.perf_counter()
        for fmt in ("md", "tex", "html"):
            export(session, fmt, Options(answers=True))
        worst = max(worst, (path.name, time.perf_counter() - t0), key=lambda w: w[1])
    return worst


def main() -> int:
    largest = max((ROOT / "scenarios").glob("*.yaml"), key=lambda p: p.stat().st_size)
    name, seconds = slowest_in_process()
    print(f"  the slowest bundled scenario to export, in process: {name}, md + tex + html in {seconds:.2f} s "
          "(sympy's first import included)", flush=True)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for label, path in (("largest", largest), ("slowest", ROOT / "scenarios" / name)):
            for fmt in ("md", "tex", "html"):
                took = command_seconds(path, fmt, Path(tmp) / f"out.{fmt}")
                ok &= took <= TARGET_S
                print(f"export: {label} {fmt} nnlab {took:.2f} s for {path.name} "
                      f"({path.stat().st_size} bytes; the whole command) (target ≤ {TARGET_S:g} s)", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
