"""Key press → repainted screen in the lab, measured inside the app.

For each scenario the lab is run headless (``App.run_test``) and for each of 200 key
presses (Right through the steps, Down through elements, wrapping with Home) we take
the time from the moment the key event reaches the app to the end of the last
compositor refresh before the app is idle again — the refresh that shows the new
state, including rendering every changed line and encoding it as terminal output.
A Pilot ``press`` has a ~40 ms floor of its own, so its wall time is not used.

Targets (issue 5): median ≤ 16 ms on every bundled scenario, ≤ 50 ms on an
AlexNet-size first conv layer (3×227×227 input, 96 filters 11×11, stride 4).

Run: ``python benchmarks/tui_keypress.py [FILE…] [--presses N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALEXNET = ROOT / "tests" / "tui" / "fixtures" / "alexnet-conv1.yaml"


def instrument(app):
    """Record key arrival times and compositor refresh end times on ``app``."""
    from textual import events

    marks = {"keys": [], "frames": []}
    original_on_event = app.on_event

    async def on_event(event):
        if isinstance(event, events.Key):
            marks["keys"].append(time.perf_counter())
        return await original_on_event(event)

    app.on_event = on_event
    original_display = app._display

    def display(screen, renderable):
        original_display(screen, renderable)
        if renderable is not None and getattr(renderable, "regions", True) != []:
            # what a real terminal write would cost: encode the update as escape sequences
            if hasattr(renderable, "render_segments"):
                renderable.render_segments(app.console)
            marks["frames"].append(time.perf_counter())

    app._display = display
    return marks


async def measure(path: str, presses: int, size=(80, 24)) -> tuple[float, float, int]:
    """Median and 90th percentile (ms) of key → repaint over ``presses`` keys."""
    from nnlab.tui.app import NnlabApp

    app = NnlabApp(path)
    async with app.run_test(size=size) as pilot:
        lab = app.screen
        for _ in range(600):
            await pilot.pause(0.02)
            if lab.model is not None or lab.error:
                break
        if lab.model is None:
            raise SystemExit(f"{path}: did not load: {lab.error}")
        marks = instrument(app)
        await pilot.pause(0.1)
        n_steps = len(lab.model.steps)
        samples = []
        forward = True
        for k in range(presses):
            key = next_key(lab, n_steps, k, forward)
            if key is None:
                forward = not forward
                key = next_key(lab, n_steps, k, forward) or ("plus" if k % 4 < 2 else "minus")
            marks["keys"].clear()
            marks["frames"].clear()
            await pilot.press(key)
            await pilot.pause()
            await app.wait_for_refresh() if hasattr(app, "wait_for_refresh") else None
            if marks["keys"] and marks["frames"]:
                samples.append((marks["frames"][-1] - marks["keys"][0]) * 1000)
        samples.sort()
        return statistics.median(samples), samples[int(len(samples) * 0.9)], len(samples)


def next_key(lab, n_steps: int, k: int, forward: bool) -> str | None:
    """Alternate element and step moves; None when nothing is left in this direction."""
    n_el = lab.model.element_count(lab.step)
    if forward:
        can_el, can_step = lab.element < n_el - 1, lab.step < n_steps - 1
        keys = ("down", "right")
    else:
        can_el, can_step = lab.element > 0, lab.step > 0
        keys = ("up", "left")
    if can_el and (k % 2 == 0 or not can_step):
        return keys[0]
    if can_step:
        return keys[1]
    return None


def main(argv: list[str] | None = None) -> int:
    """Print one line per scenario and an overall verdict."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*")
    p.add_argument("--presses", type=int, default=200)
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from nnlab.library import bundled

    files = [Path(f) for f in args.files] or list(bundled())
    ok = True
    worst = 0.0
    for f in files:
        med, p90, n = asyncio.run(measure(str(f), args.presses))
        target = 50.0 if f.name == ALEXNET.name else 16.0
        ok &= med <= target
        worst = max(worst, med) if target == 16.0 else worst
        print(f"keypress: {f.stem:32} median {med:6.2f} ms  p90 {p90:6.2f} ms  ({n} keys, target ≤ {target:g} ms)",
              flush=True)
    if not args.files and ALEXNET.exists():
        med, p90, n = asyncio.run(measure(str(ALEXNET), args.presses))
        ok &= med <= 50.0
        print(f"keypress: {'alexnet-conv1 (3×227×227, 96×11×11/4)':32} median {med:6.2f} ms  p90 {p90:6.2f} ms  "
              f"({n} keys, target ≤ 50 ms)", flush=True)
    print(f"keypress: worst bundled median {worst:.2f} ms (target ≤ 16 ms) — {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
