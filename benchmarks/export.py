"""``nnlab export`` of the largest bundled scenario, whole command (target ≤ 2 s per format).

The largest bundled scenario is the longest file in ``scenarios/``; the same is
measured for the scenario slowest to export and for the training scenario slowest to
export (found in one process first): its HTML draws the training plots with matplotlib
(imported only then; its font cache is built once per machine, before the samples by the
in-process pass). Each sample is
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


def plots_cost(path: Path, out: Path) -> tuple[float, float]:
    """Median seconds of the whole HTML export with matplotlib's SVG plots and without (matplotlib
    blocked: the text plots), samples interleaved so that both see the same load."""
    blocked = ("import sys; sys.modules['matplotlib'] = None; from nnlab.cli import main; "
               f"sys.exit(main(['export', {str(path)!r}, '--to', 'html', '--answers', '--out', {str(out)!r}]))")
    with_svg = ("import sys; from nnlab.cli import main; "
                f"sys.exit(main(['export', {str(path)!r}, '--to', 'html', '--answers', '--out', {str(out)!r}]))")
    samples: dict[str, list[float]] = {"svg": [], "text": []}
    for _ in range(5):
        for key, code in (("svg", with_svg), ("text", blocked)):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True)
            samples[key].append(time.perf_counter() - t0)
    return statistics.median(samples["svg"]), statistics.median(samples["text"])


def slowest_in_process() -> tuple[tuple[str, float], tuple[str, float]]:
    """The scenario slowest to export (md + tex + html), and the slowest with training plots."""
    from nnlab.export import export
    from nnlab.export.document import Options
    from nnlab.session import open_session

    worst, plotted = ("", 0.0), ("", 0.0)
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        session = open_session(str(path))
        t0 = time.perf_counter()
        for fmt in ("md", "tex", "html"):
            export(session, fmt, Options(answers=True))
        took = (path.name, time.perf_counter() - t0)
        worst = max(worst, took, key=lambda w: w[1])
        if session.training is not None:
            plotted = max(plotted, took, key=lambda w: w[1])
    return worst, plotted


def main() -> int:
    largest = max((ROOT / "scenarios").glob("*.yaml"), key=lambda p: p.stat().st_size)
    (name, seconds), (trained, _) = slowest_in_process()
    print(f"  the slowest bundled scenario to export, in process: {name}, md + tex + html in {seconds:.2f} s "
          "(sympy's first import included)", flush=True)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for label, path in (("largest", largest), ("slowest", ROOT / "scenarios" / name),
                            ("slowest with plots", ROOT / "scenarios" / trained)):
            for fmt in ("md", "tex", "html"):
                took = command_seconds(path, fmt, Path(tmp) / f"out.{fmt}")
                ok &= took <= TARGET_S
                print(f"export: {label} {fmt} nnlab {took:.2f} s for {path.name} "
                      f"({path.stat().st_size} bytes; the whole command) (target ≤ {TARGET_S:g} s)", flush=True)
        svg, text = plots_cost(ROOT / "scenarios" / trained, Path(tmp) / "plots.html")
        print(f"export: plots html {trained}: SVG plots (matplotlib) {svg:.2f} s, text plots {text:.2f} s "
              f"(+{svg - text:.2f} s, {svg / text:.2f}x; whole command, median of 5 interleaved)", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    import os

    os.environ["NNLAB_CACHE"] = "0"  # time the work itself, never a training read back from the cache
    sys.exit(main())
