"""Time to the first complete frame: ``nnlab FILE`` vs a minimal Textual app showing one Static.

Both are started the same way, alternately, in a pseudo-terminal of 80×24 (pexpect),
and timed from spawning the process to the arrival of the last byte of the first frame
that shows the app's text — for nnlab both its first line (the status bar) and its
last (the footer), so the frame is complete. Textual writes a frame in one go; the
frame has ended when no byte follows for 4 ms (the next frame, if any, comes ≥ 5 ms
later) — the first frame the user sees in full. For nnlab that frame is the lab's skeleton (status bar, panes, footer);
the scenario is loaded in a worker right after it, so the time until the loaded lab
is shown ("loaded") is reported as well. Target (issue 5): first frame ≤ 1.3× the
minimal app.

Run: ``python benchmarks/tui_startup.py [FILE] [--runs N]``.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import sys
import time
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = (
    "from textual.app import App\n"
    "from textual.widgets import Static\n"
    "class Minimal(App):\n"
    "    def compose(self):\n"
    "        yield Static('minimal-ready')\n"
    "Minimal().run()\n"
)
QUIET = 0.004
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "TEXTUAL")}
ENV.update(TERM="xterm-256color", COLUMNS="80", LINES="24")


def _burst_end(child: pexpect.spawn, buf: bytearray, marker: bytes | tuple[bytes, ...], t0: float,
               timeout: float) -> float:
    """Read until every marker has arrived and the output then pauses; seconds to the last byte."""
    markers = marker if isinstance(marker, tuple) else (marker,)
    deadline = time.perf_counter() + timeout
    last = float("nan")
    while time.perf_counter() < deadline:
        seen = all(m in buf for m in markers)
        try:
            chunk = child.read_nonblocking(65536, timeout=QUIET if seen else timeout)
        except pexpect.TIMEOUT:
            if seen:
                return last - t0
            continue
        last = time.perf_counter()
        buf += chunk
    raise TimeoutError(f"{marker!r} never appeared")


def first_frame(cmd: list[str], marker: bytes | tuple[bytes, ...], then: bytes | None = None,
                timeout: float = 30) -> tuple[float, float]:
    """Seconds from spawn to the end of the first frame showing ``marker`` (and to ``then``)."""
    t0 = time.perf_counter()
    child = pexpect.spawn(cmd[0], cmd[1:], env=ENV, dimensions=(24, 80), timeout=timeout)
    buf = bytearray()
    t_then = float("nan")
    try:
        t_first = _burst_end(child, buf, marker, t0, timeout)
        if then is not None:
            t_then = _burst_end(child, buf, then, t0, timeout)
    finally:
        child.terminate(force=True)
    return t_first, t_then


def main(argv: list[str] | None = None) -> int:
    """Print the medians and the ratio."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file", nargs="?", default=str(ROOT / "scenarios" / "conv-lecture.yaml"))
    p.add_argument("--runs", type=int, default=9)
    args = p.parse_args(argv)
    compileall.compile_dir(str(ROOT / "nnlab"), quiet=1)
    name = os.path.basename(args.file).encode()
    nnlab = [sys.executable, "-m", "nnlab", args.file]
    minimal = [sys.executable, "-c", MINIMAL]
    first = (name, b"palette")  # the status bar (first line) and the footer (last line)
    first_frame(nnlab, first, b"step 1/")  # warm the page cache
    first_frame(minimal, b"minimal-ready")
    a, loaded, b = [], [], []
    for _ in range(args.runs):
        t, t_loaded = first_frame(nnlab, first, b"step 1/")
        a.append(t)
        loaded.append(t_loaded)
        b.append(first_frame(minimal, b"minimal-ready")[0])
    ma, mb, ml = statistics.median(a) * 1000, statistics.median(b) * 1000, statistics.median(loaded) * 1000
    ratio = ma / mb
    print(f"first_frame: nnlab {ma:.0f} ms, minimal {mb:.0f} ms, ratio {ratio:.2f} (target ≤ 1.3)")
    print(f"loaded: nnlab shows the loaded lab after {ml:.0f} ms ({os.path.basename(args.file)})")
    return 0 if ratio <= 1.3 else 1


if __name__ == "__main__":
    os.environ["NNLAB_CACHE"] = "0"  # time the work itself, never a training read back from the cache
    raise SystemExit(main())
