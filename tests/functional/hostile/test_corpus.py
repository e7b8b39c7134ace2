"""Every hostile file ends in exit 0, 1 or 2 — no traceback, no hang, no memory blow-up.

The corpus (``tests/functional/hostile/corpus/``, written by ``make_corpus.py``) is run through
``nnlab check``, ``nnlab run --json`` and ``nnlab validate`` in two worker processes,
each under an address-space limit (``RLIMIT_AS``); a file that keeps a worker busy
longer than the time limit is a timeout. The outcome counts are printed (``-s`` shows
them) and kept as the test's ``outcomes`` property (in a JUnit XML report).
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.functional.hostile import make_corpus
from tests.functional.hostile.pool import CORPUS, bad, run_corpus, summary
from tests.functional.hostile.runner import commands_for


def test_the_corpus_on_disk_is_what_the_generator_writes():
    on_disk = {p.stem for p in CORPUS.glob("*.yaml")}
    assert on_disk == set(make_corpus.corpus()), "run `python tests/functional/hostile/make_corpus.py` and commit the corpus"
    assert len(on_disk) >= 300


def test_every_hostile_file_ends_cleanly(record_property):
    files = sorted(str(p) for p in CORPUS.glob("*.yaml"))
    start = time.monotonic()
    results = run_corpus(files)
    took = time.monotonic() - start
    counts = summary(results)
    line = f"{len(files)} files, {len(results)} commands in {took:.1f} s: " + ", ".join(
        f"{k} {v}" for k, v in sorted(counts.items()))
    print(line)
    record_property("outcomes", line)
    failures = [f"{Path(r['file']).name} [{r['command']}]: {r['code']} {r['message']} {r.get('escaped') or ''}"[:600]
                for r in bad(results)]
    assert not failures, "\n".join(failures)
    assert len(results) == sum(len(commands_for(f)) for f in files)
