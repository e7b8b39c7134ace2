"""A cache of finished trainings on disk, so checking answers again does not train again.

A student edits an answer and runs ``nnlab check`` again; the training is the same, so
its result is read back instead of recomputed (as Python keeps ``.pyc`` files). An entry
is keyed by everything that can change the numbers:

* the scenario's content as parsed, without the parts that cannot change a training
  (``title``, ``topic``, ``about``, ``solution``, ``expect``, ``tolerance``): every
  node's kind, text and quoting, so an edited value, line or ``train:`` key is a miss;
* nnlab's own code: the name, size and modification time of every ``.py`` file of the
  package (an edited or reinstalled nnlab is a miss);
* Python's and NumPy's versions, the machine's name and architecture, and the
  environment variables that steer the BLAS (its bits may differ between CPUs, so a
  home directory shared between machines keeps one entry per machine).

Only gradient-descent trainings in float64 that took at least :data:`WORTH_MS` and whose
checkpoints fit in :data:`MAX_BYTES` are saved (:func:`~nnlab.engine.train.training_state`).
An entry that cannot be read, or does not fit, is ignored and written again. Writes go to
a temporary file renamed into place, and an entry carries a digest of its numbers, so a
reader never takes half an entry or a damaged one; the oldest entries are removed beyond
:data:`MAX_ENTRIES` or :data:`MAX_TOTAL` bytes.

Where: ``$NNLAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/nnlab/trainings``, else
``~/.cache/nnlab/trainings``. ``NNLAB_CACHE=0`` turns it off (the tests do).
"""

from __future__ import annotations

import os
import re
import sys
import time
from _thread import get_ident  # = threading.get_ident, without threading's 0.5 ms import
from typing import Any

import numpy as np

from nnlab.engine.train import Training, restore_training, train, training_state
from nnlab.scenario.model import Scenario

try:  # hashlib costs 2 ms of start-up for OpenSSL; blake2 is CPython's own
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - other Pythons
    from hashlib import blake2b

FORMAT = b"nnlab-training 2\n"
WORTH_MS = 20.0
"""A training faster than this is not saved (reading it back would save nothing)."""
MAX_BYTES = 16 * 2**20
"""The largest entry saved."""
MAX_ENTRIES = 64
"""Entries kept; the least recently written go first."""
MAX_TOTAL = 256 * 2**20
"""Bytes all entries may take together; the least recently written go first."""
INERT = frozenset({"title", "topic", "about", "solution", "expect", "tolerance"})
"""Top-level keys that cannot change a training's numbers."""
_DTYPES = {"f8": np.float64, "i8": np.int64, "u1": np.uint8}
_ENTRY = r"[0-9a-f]{40}\.train"  # (patterns compiled by re on the first prune, not at every start)
_TEMPORARY = r"[0-9a-f]{40}\.train\.\d+\.\d+\.tmp"


def cached_train(scenario: Scenario) -> Training:
    """:func:`~nnlab.engine.train.train`, or the same training read back from the cache."""
    folder = cache_dir()
    key = None if folder is None else training_key(scenario)
    path = None if key is None else os.path.join(folder, key + ".train")
    if path is not None:
        state = read_entry(path, key)
        if state is not None:
            try:
                return restore_training(scenario, state)
            except Exception:  # noqa: BLE001 - an entry that does not fit: train and write it again
                pass
    start = time.perf_counter()
    tr = train(scenario)
    if path is not None and (time.perf_counter() - start) * 1000 >= WORTH_MS:
        state = training_state(tr)
        if state is not None and sum(a.nbytes for a in state.values()) <= MAX_BYTES:
            write_entry(folder, path, key, state)
    return tr


def cache_dir() -> str | None:
    """The cache's folder (None: turned off with ``NNLAB_CACHE=0``)."""
    if os.environ.get("NNLAB_CACHE", "1").strip().lower() in ("0", "off", "no", "false"):
        return None
    folder = os.environ.get("NNLAB_CACHE_DIR")
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "nnlab", "trainings")
    return folder


def training_key(scenario: Scenario) -> str | None:
    """The hex digest every entry of ``scenario``'s training is filed under (None: no parsed tree to key on)."""
    root = scenario.root
    if root is None or root.kind != "map":
        return None
    h = blake2b(digest_size=20)
    h.update(_environment())
    for name, node in root.value.items():
        if name not in INERT:
            h.update(b"\x00key\x00" + name.encode())
            _feed(h, node)
    # what the trainer reads from the Scenario itself, which a caller may have changed after loading
    # (``nnlab validate`` trains one epoch of ``scenario._replace(train=…)``)
    derived = (sorted(scenario.train.items()) if scenario.train else None,
               [(eq.name, eq.text) for eq in scenario.equations], scenario.learn, scenario.backward,
               sorted(scenario.options.items()))
    h.update(b"\x00scenario\x00" + repr(derived).encode())
    for part in (scenario.values, scenario.data):  # the numbers themselves (the start and the examples)
        for name, value in part.items():
            a = np.ascontiguousarray(value.array)
            h.update(f"\x00{name} {a.dtype.str} {a.shape}".encode())
            h.update(repr(a.tolist()).encode() if a.dtype == object else a.data)
    return h.hexdigest()


def _feed(h: Any, node: Any) -> None:
    """Hash a parsed YAML node: its kind, and its keys, items or scalar text as written."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n.kind == "map":
            h.update(b"\x00{%d" % len(n.value))
            for k, v in reversed(list(n.value.items())):  # popped in order
                stack.append(v)
                stack.append(_Key(k))
        elif n.kind == "seq":
            h.update(b"\x00[%d" % len(n.value))
            stack.extend(reversed(n.value))
        elif n.kind == "key":
            h.update(b"\x00k" + n.value.encode())
        else:
            raw = n.raw if n.raw is not None else repr(n.value)
            h.update(b"\x00'" if n.quoted else b"\x00=")
            h.update(raw.encode())


class _Key:
    """A map key on :func:`_feed`'s stack."""

    __slots__ = ("value",)
    kind = "key"

    def __init__(self, value: str) -> None:
        self.value = value


_ENVIRONMENT: bytes | None = None


def _environment() -> bytes:
    """What besides the scenario decides a training's bits: nnlab's code, Python, NumPy, the machine, the BLAS."""
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        import nnlab

        parts = [sys.version, np.__version__, repr(os.uname()[1:2] + os.uname()[4:])]
        parts += [f"{k}={v}" for k, v in sorted(os.environ.items())
                  if k.startswith(("OPENBLAS", "OMP_", "MKL", "BLIS", "GOTO", "NPY_"))]
        for folder in nnlab.__path__:
            for path, stat in sorted(_sources(folder)):
                parts.append(f"{path[len(folder):]} {stat.st_size} {stat.st_mtime_ns}")
        _ENVIRONMENT = "\n".join(parts).encode()
    return _ENVIRONMENT


def _sources(folder: str) -> list[tuple[str, os.stat_result]]:
    """Every ``.py`` file under ``folder`` with its stat."""
    out = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir() and entry.name != "__pycache__":
                out += _sources(entry.path)
            elif entry.name.endswith(".py"):
                out.append((entry.path, entry.stat()))
    return out


# ------------------------------------------------------------------------ entries


def write_entry(folder: str, path: str, key: str, state: dict[str, np.ndarray]) -> bool:
    """Write one entry atomically (False if the folder cannot be written: the cache is only a shortcut)."""
    body, lines = [], []
    for name, a in state.items():
        a = np.ascontiguousarray(a)
        code = next(c for c, t in _DTYPES.items() if a.dtype == t)
        lines.append(f"{name} {code} {','.join(map(str, a.shape))} {a.nbytes}\n".encode())
        body.append(a.tobytes())
    digest = blake2b(b"".join(body), digest_size=20).hexdigest()  # a damaged number is a miss, not an answer
    head = [FORMAT, key.encode() + b"\n", digest.encode() + b"\n", *lines, b"\n"]
    tmp = f"{path}.{os.getpid()}.{get_ident()}.tmp"  # (the lab's workers may write at once)
    try:
        os.makedirs(folder, exist_ok=True)
        with open(tmp, "wb") as f:
            f.writelines(head + body)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
    _prune(folder)
    return True


def read_entry(path: str, key: str) -> dict[str, np.ndarray] | None:
    """The arrays of an entry, or None if it is missing, damaged or for another key."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    try:
        end = data.index(b"\n\n") + 2
        lines = data[:end].decode().split("\n")
        if lines[0] + "\n" != FORMAT.decode() or lines[1] != key:
            return None
        if blake2b(data[end:], digest_size=20).hexdigest() != lines[2]:
            return None
        state, offset = {}, end
        for line in lines[3:-2]:
            name, code, shape, nbytes = line.split(" ")
            dims = tuple(int(d) for d in shape.split(",")) if shape else ()
            size = int(nbytes)
            a = np.frombuffer(data, _DTYPES[code], count=size // np.dtype(_DTYPES[code]).itemsize, offset=offset)
            # a copy: the bytes after the header are not aligned for float64, and NumPy computes
            # on unaligned arrays without the BLAS (other last bits in a matrix product)
            state[name] = a.reshape(dims).copy()
            offset += size
        return state if offset == len(data) else None
    except (ValueError, KeyError, IndexError, UnicodeDecodeError):
        return None


def _prune(folder: str) -> None:
    """Keep the most recently written entries: at most :data:`MAX_ENTRIES`, :data:`MAX_TOTAL` bytes in
    all; remove temporary files an interrupted write left (an hour old). Files named otherwise are
    not touched."""
    now = time.time()
    try:
        with os.scandir(folder) as it:
            entries, stale = [], []
            for e in it:
                if re.fullmatch(_ENTRY, e.name):
                    st = e.stat()
                    entries.append((st.st_mtime_ns, st.st_size, e.path))
                elif re.fullmatch(_TEMPORARY, e.name) and now - e.stat().st_mtime > 3600:
                    stale.append(e.path)
        kept, total = 0, 0
        for _, size, path in sorted(entries, reverse=True):
            kept, total = kept + 1, total + size
            if kept > MAX_ENTRIES or total > MAX_TOTAL:
                stale.append(path)
        for path in stale:
            os.unlink(path)
    except OSError:
        pass
