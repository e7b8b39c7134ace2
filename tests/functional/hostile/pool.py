"""Drive :mod:`tests.functional.hostile.runner` workers over the corpus, with a per-file time limit.

Used by the corpus test and runnable by hand for the outcome counts::

    python -m tests.functional.hostile.pool            # all files, a summary and the failures
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.functional.hostile.runner import commands_for

CORPUS = Path(__file__).resolve().parent / "corpus"
ROOT = Path(__file__).resolve().parents[3]
AS_LIMIT = 3 << 30
"""Address-space limit of a worker: numpy and OpenBLAS map about 1 GB of their own at start."""
MEMORY_BUDGET = "256M"
"""nnlab's memory budget in the workers: files that are merely big are refused at once."""
FILE_SECONDS = 20.0
"""A file whose commands take longer than this (wall clock) is a timeout."""


class _Worker:
    def __init__(self, files: list[str]) -> None:
        self.files = files
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.functional.hostile.runner", "--as-limit", str(AS_LIMIT), *files],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "NNLAB_MAX_MEMORY": MEMORY_BUDGET})
        self.plan = [(f, cmd) for f in files for cmd in commands_for(f)]   # every command, in the worker's order
        self.done = 0           # commands reported
        self.last = time.monotonic()
        self.buffer = ""

    @property
    def current(self) -> str | None:
        return self.plan[self.done][0] if self.done < len(self.plan) else None

    def file_finished(self) -> bool:
        """Whether the last command reported was its file's last."""
        return self.done == len(self.plan) or self.plan[self.done][0] != self.plan[self.done - 1][0]


def run_corpus(files: list[str], workers: int = 2, file_seconds: float = FILE_SECONDS) -> list[dict]:
    """Every (file, command) result; a stuck or crashed worker yields ``timeout``/``crash`` rows."""
    chunks = [files[i::workers] for i in range(workers)]
    results: list[dict] = []
    sel = selectors.DefaultSelector()
    live: list[_Worker] = []

    def start(chunk: list[str]) -> None:
        if chunk:
            w = _Worker(chunk)
            live.append(w)
            sel.register(w.proc.stdout, selectors.EVENT_READ, w)

    def stop(w: _Worker, outcome: str) -> None:
        sel.unregister(w.proc.stdout)
        live.remove(w)
        if w.proc.poll() is None:
            w.proc.kill()
        w.proc.wait()
        stderr = w.proc.stderr.read()[-1500:] if w.proc.stderr else ""
        stuck = w.current
        if stuck is not None:  # the file it was on, whichever command
            for f, cmd in w.plan[w.done:]:
                if f != stuck:
                    break
                results.append({"file": f, "command": " ".join(c for c in cmd if c != "{file}"), "code": outcome,
                                "seconds": round(time.monotonic() - w.last, 2), "traceback": "Traceback" in stderr,
                                "escaped": stderr or None, "message": outcome})
            start(w.files[w.files.index(stuck) + 1:])

    for chunk in chunks:
        start(chunk)
    while live:
        for key, _ in sel.select(timeout=0.5):
            w: _Worker = key.data
            line = w.proc.stdout.readline()
            if not line:
                stop(w, "crash" if w.current is not None else "done")
                continue
            results.append(json.loads(line))
            w.done += 1
            if w.file_finished():
                w.last = time.monotonic()
        now = time.monotonic()
        for w in list(live):
            if now - w.last > file_seconds:
                stop(w, "timeout")
    return results


INTERNAL = "nnlab failed on this input"
"""The start of the CLI's last-resort message for an exception it did not expect: a bug, though exit 2."""


def summary(results: list[dict]) -> Counter:
    """Outcome counts: ``exit 0``, ``exit 1``, ``exit 2``, ``traceback``, ``internal error``, ``timeout``, ``crash``."""
    counts: Counter = Counter()
    for r in results:
        if r["traceback"]:
            counts["traceback"] += 1
        elif INTERNAL in r["message"]:
            counts["internal error"] += 1
        elif r["code"] in (0, 1, 2):
            counts[f"exit {r['code']}"] += 1
        else:
            counts[str(r["code"])] += 1
    return counts


def bad(results: list[dict]) -> list[dict]:
    """Results that break the promise: a traceback, an internal error, a timeout, a crash or another exit code."""
    return [r for r in results if r["traceback"] or INTERNAL in r["message"] or r["code"] not in (0, 1, 2)]


def main() -> None:
    files = sorted(str(p) for p in CORPUS.glob("*.yaml")) if len(sys.argv) < 2 else sys.argv[1:]
    start = time.monotonic()
    results = run_corpus(files)
    took = time.monotonic() - start
    for r in bad(results):
        print(f"{Path(r['file']).name} [{r['command']}]: {r['code']} {r['message']}")
        if r.get("escaped"):
            print("   " + r["escaped"].strip().splitlines()[-1][:200])
    slow = sorted(results, key=lambda r: -r["seconds"])[:8]
    print("slowest:", ", ".join(f"{Path(r['file']).name} [{r['command']}] {r['seconds']}s" for r in slow))
    print(f"{len(files)} files, {len(results)} commands in {took:.1f} s:", dict(sorted(summary(results).items())))


if __name__ == "__main__":
    main()
