"""Every benchmark in ``benchmarks/``, one after another, summed up in one table.

Run ``python benchmarks/run.py`` (or ``… run.py train engine`` for some of them).
Each script is started as its own subprocess, in turn (never two at once: they
would time each other), and every line it prints in the form

    NAME: nnlab X, REFERENCE Y, ratio R (target ≤ T)

becomes one row: case, nnlab, reference, ratio, target, pass/fail. The parts are
read leniently, because not every case has a reference:

* **case** — ``NAME``; when several lines of a script share a name
  (``keypress: SCENARIO …``) the first word after the colon is added.
* **nnlab** — the part starting with ``nnlab`` (or, without one, the first part).
* **reference** — the next part with a figure, e.g. ``torch 120 ms`` or
  ``import-only 33 MB``; ``—`` when the target is an absolute figure.
* **ratio** — ``ratio R`` when there is one.
* **pass/fail** — ``R ≤ T`` for a ratio, else the nnlab figure in the target's
  unit (``+16.9 MB`` against ``≤ 50 MB``) ``≤ T``.

Lines without ``target ≤`` (details, notes) are not rows; a script's stderr is
shown only when it fails to run. Progress goes to stderr, the table to stdout. The
exit status is 1 if a case fails or a script could not run.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NUMBER = r"[-+]?\d+(?:\.\d+)?"
TARGET = re.compile(rf"target\s*≤\s*({NUMBER})\s*([^\s),;]*)")
RATIO = re.compile(rf"^ratio\s+({NUMBER})")
LINE = re.compile(r"^([A-Za-z_][\w.-]*):\s+(.*\S)\s*$")


@dataclass
class Row:
    """One case of one benchmark script."""

    script: str
    case: str
    nnlab: str
    reference: str
    ratio: float | None
    target: str
    ok: bool | None  # None: no figure to compare


def scripts() -> list[Path]:
    """The runnable benchmark scripts (a ``__main__`` block; helpers such as ``naive.py`` have none)."""
    return [p for p in sorted(HERE.glob("*.py"))
            if p.name != Path(__file__).name and 'if __name__ == "__main__"' in p.read_text()]


def _split(text: str) -> list[str]:
    """Split at ``", "`` outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "([" and 1 or ch in ")]" and -1 or 0
        if depth == 0 and text.startswith(", ", i):
            parts.append(text[start:i].strip())
            start = i + 2
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _without_target(body: str, at: int) -> str:
    """``body`` without the parenthesis that holds ``target ≤`` (at index ``at``), nor anything after it."""
    depth, i = 0, at
    while i > 0:
        i -= 1
        if body[i] == ")":
            depth += 1
        elif body[i] == "(":
            if depth == 0:
                return body[:i].strip()
            depth -= 1
    return body[:at].strip()


def _figure(text: str, unit: str) -> float | None:
    """The first number in ``text`` followed by ``unit`` (or the first number, without a unit)."""
    pattern = rf"({NUMBER})\s*{re.escape(unit)}(?![A-Za-z])" if unit else rf"(?<![\w.])({NUMBER})(?![\w.])"
    m = re.search(pattern, text)
    return float(m.group(1)) if m else None


def _cell(text: str) -> str:
    """A part as a table cell: without parenthesized remarks, spaces collapsed."""
    while True:
        shorter = re.sub(r"\s*\([^()]*\)", "", text)
        if shorter == text:
            return " ".join(text.split()) or "—"
        text = shorter


def parse(script: str, line: str, shared: bool = False) -> Row | None:
    """The row a printed line stands for, or None if it has no target.

    ``shared``: other lines of the script have the same name (their first word tells them apart).
    """
    m = LINE.match(line)
    target = TARGET.search(line)
    if m is None or target is None:
        return None
    name, body = m.groups()
    t_value, t_unit = float(target.group(1)), target.group(2)
    at = body.find("target")
    parts = _split(_without_target(body, at if at >= 0 else len(body)).rstrip(" ,;—-"))
    ratio = next((float(RATIO.match(p).group(1)) for p in parts if RATIO.match(p)), None)
    others = [p for p in parts if not RATIO.match(p)]
    mine = next((p for p in others if p.startswith("nnlab ")), others[0] if others else "")
    reference = next((p for p in others if p is not mine and re.search(r"\d", p)), "—")
    first = body.split()[0] if body.split() else ""
    case = f"{name} {first}" if shared and first != "nnlab" and not re.match(NUMBER, first) else name
    if ratio is not None:
        ok: bool | None = ratio <= t_value
    else:
        figure = _figure(mine, t_unit)
        ok = None if figure is None else figure <= t_value
    if case != name:
        mine = mine.removeprefix(first)
    return Row(script, case, _cell(mine.removeprefix("nnlab ")), _cell(reference), ratio,
               f"≤ {target.group(1)}{' ' + t_unit if t_unit else ''}", ok)


def run(path: Path, timeout: float) -> tuple[list[Row], str | None]:
    """Run one script; its rows and, if it could not run, why."""
    start = time.perf_counter()
    print(f"running {path.name} …", file=sys.stderr, flush=True)
    try:
        # No training cache: every case times the work itself (overhead.py's check case turns it on
        # for the row that is about re-checking)
        done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, cwd=ROOT,
                              timeout=timeout, env={**os.environ, "NNLAB_CACHE": "0"})
    except subprocess.TimeoutExpired:
        return [], f"timed out after {timeout:.0f} s"
    print(f"  {path.name}: {time.perf_counter() - start:.0f} s, exit {done.returncode}", file=sys.stderr, flush=True)
    lines = [line for line in done.stdout.splitlines() if LINE.match(line) and TARGET.search(line)]
    names = Counter(LINE.match(line).group(1) for line in lines)
    rows = [r for r in (parse(path.stem, line, names[LINE.match(line).group(1)] > 1) for line in lines) if r]
    if done.returncode not in (0, 1) or (done.returncode == 1 and all(r.ok is not False for r in rows)):
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return rows, f"exit {done.returncode}: {tail}"
    if not rows:
        return rows, "printed no line with a target"
    return rows, None


def table(rows: list[Row], errors: dict[str, str]) -> str:
    """The table as text."""
    head = ("script", "case", "nnlab", "reference", "ratio", "target", "result")
    body = [(r.script, r.case, r.nnlab, r.reference, "—" if r.ratio is None else f"{r.ratio:.3g}", r.target,
             {True: "pass", False: "FAIL", None: "?"}[r.ok]) for r in rows]
    body += [(script, "(did not run)", why, "", "", "", "ERROR") for script, why in errors.items()]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in (head, *body)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    passed = sum(r.ok is True for r in rows)
    lines.append(f"\n{passed} of {len(rows)} cases pass" + (f"; {len(errors)} script(s) did not run" if errors else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("only", nargs="*", help="script names to run (default: all), e.g. train engine")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds one script may take (default 1800)")
    args = ap.parse_args(argv)
    chosen = [p for p in scripts() if not args.only or p.stem in args.only]
    unknown = set(args.only) - {p.stem for p in chosen}
    if unknown:
        ap.error(f"no benchmark script named {', '.join(sorted(unknown))}; "
                 f"there are {', '.join(p.stem for p in scripts())}")
    rows: list[Row] = []
    errors: dict[str, str] = {}
    for path in chosen:
        got, why = run(path, args.timeout)
        rows += got
        if why is not None:
            errors[path.stem] = why
    print(table(rows, errors))
    return 0 if not errors and all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
