"""Run nnlab commands on hostile files in one process, under an address-space limit.

``python -m tests.functional.hostile.runner --as-limit BYTES FILE…`` runs ``nnlab check FILE``,
``nnlab run --json FILE`` and ``nnlab validate FILE`` in-process (``nnlab.cli.main``) for
each file and prints one JSON line per command: the file, the command, the exit code,
the seconds it took and whether a traceback (or an exception escaping ``main``) was
seen. The parent (:mod:`tests.functional.hostile.test_corpus`) kills a worker that stops printing
and restarts it after the file it was stuck on, which counts as a timeout.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import sys
import time
import traceback

COMMANDS = (("check",), ("run", "--json"), ("validate",))


def run_one(argv: list[str]) -> dict:
    """One in-process ``nnlab`` command: exit code, time, traceback seen, first line of its error."""
    from nnlab.cli import main

    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    escaped = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException as exc:  # noqa: BLE001 - this is what the corpus looks for
            code, escaped = -1, "".join(traceback.format_exception(exc))[-2000:]
    seconds = time.perf_counter() - start
    stderr = err.getvalue()
    return {"code": code, "seconds": round(seconds, 4), "traceback": escaped is not None or "Traceback" in stderr,
            "escaped": escaped, "message": stderr.strip().splitlines()[0][:300] if stderr.strip() else ""}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--as-limit", type=int, default=0, help="RLIMIT_AS in bytes (0: none)")
    p.add_argument("files", nargs="*")
    args = p.parse_args()
    if args.as_limit:
        resource.setrlimit(resource.RLIMIT_AS, (args.as_limit, args.as_limit))
    import nnlab.cli  # noqa: F401 - imported before the limit bites on the first file
    real = sys.stdout
    for f in args.files:
        for cmd in COMMANDS:
            result = run_one([*cmd, f])
            result.update(file=f, command=" ".join(cmd))
            real.write(json.dumps(result) + "\n")
            real.flush()


if __name__ == "__main__":
    main()
