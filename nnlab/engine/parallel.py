"""Large steps split their output rows over the BLAS's threads.

Attention's big steps (the ``T×d @ d×T`` and ``T×T @ T×d`` products, the softmax
over ``T×T`` scores and their backward) leave cores idle if left to NumPy: its
ufuncs (a softmax's exp, row sums and divisions) use one core, and its BLAS splits
each product over the cores but, at these sizes, keeps them only partly busy.

So :func:`split` runs such a step as one block of output rows per thread, at once:
block 0 on the calling thread, the others on *lanes*, helper threads of ours. NumPy
releases the GIL inside ufuncs and ``matmul``, so the blocks really run in parallel.
A softmax works row by row, so its blocks give the same bits as one piece. A block of
a matrix product is an OpenBLAS product of its own, which never splits the sum over
the inner dimension but may group it differently: OpenBLAS's results already differ
in the last bits between one and two threads for some shapes (301×48 @ 48×333: up to
9e-15), and a split product differs from the whole by that kind of amount, no more
(for attention's 512×64 shapes it is the same to the last bit;
``tests/engine/test_parallel.py`` checks both).

Three things decide whether this pays, each measured on the 2-core machine the
benchmarks run on (``benchmarks/engine.py --only attention``):

* **Hand-offs.** Waking a sleeping thread costs 40–200 µs there (an idle virtual CPU
  has to be woken), as much as half a block. So while a run is in progress
  (:func:`session`), lanes and the waiting caller spin on a ``pthread`` spin lock
  instead of sleeping; the spin happens inside a C call, without the GIL, and ends
  when the run does (the lanes then sleep until the next split). With sleeping
  threads the split gained 0–3 %; with spinning ones about 10 %.
* **The BLAS's own threads.** After a threaded call, OpenBLAS's worker threads spin
  for about a tenth of a second, and a block started next to one shares its core.
  So the BLAS is held to one thread (:func:`hold`) during a split and, while lanes
  are awake, during the finiteness check's ``vdot``: leaving that one free put
  attention at 1.8–2.4× torch's time instead of 1.3–1.5×. The other way round, a
  lane spinning next to OpenBLAS's threads slows a big product down (a convolution
  after an attention ran 1.6× slower), so a convolution or a product that does not
  split lets the lanes sleep first (:func:`park`). Parking before every other step
  is worse: with the lanes asleep, the finiteness checks of the small steps in
  between woke OpenBLAS's threads again, and the next splits took up to 10 ms.
  (Split products take their blocks' sums of squares themselves, in cache, so the
  engine's own check skips them: ``checked=`` in ``nnlab/engine/ops/linalg.py``.)
* **Size.** Steps with fewer than :data:`MIN_ELEMENTS` elements of work run in one
  piece.

How many threads: as many as the BLAS would use (``OPENBLAS_NUM_THREADS``, else the
CPUs), so ``OPENBLAS_NUM_THREADS=1`` keeps everything on the calling thread. This
needs Linux, an OpenBLAS whose thread count can be set at run time (the one NumPy's
wheels ship, found through ``/proc/self/maps``) and ``pthread_spin_lock``; otherwise
every step runs in one piece, as before.
"""

from __future__ import annotations

import contextvars
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

MIN_ELEMENTS = 1 << 16
"""Steps with less work than this many elements run in one piece."""

MIN_ROWS = 8
"""No block is made smaller than this many rows."""

_blas: Any = None       # (get_num_threads, set_num_threads) of the loaded OpenBLAS; False if none
_spin: Any = None       # (pthread_spin_init, _lock, _unlock); False if unavailable
_lanes: list[_Lane] = []
_split_lock = threading.Lock()     # one split at a time: it uses every lane
_state_lock = threading.Lock()     # guards the counters below
_depth = 0              # nesting depth of hold()
_before = 0             # the BLAS's thread count before the outermost hold()
_sessions = 0           # runs in progress (lanes keep spinning while > 0)
_inside = threading.local()


def rows(total: int, k: int, parts: int) -> slice:
    """Block ``k`` of ``parts`` near-equal blocks of ``range(total)``."""
    return slice(total * k // parts, total * (k + 1) // parts)


def parts_for(total_rows: int, size: int) -> int:
    """How many blocks a step of ``size`` elements over ``total_rows`` rows is split into."""
    if size < MIN_ELEMENTS or getattr(_inside, "busy", False):
        return 1
    blas = _controls()
    if blas is None or not _spin_locks():
        return 1
    threads = _before if _depth else blas[0]()  # the count the BLAS itself would use
    return max(1, min(threads, _cpus(), total_rows // MIN_ROWS))


def split(work: Callable[[int, int], None], total_rows: int, size: int) -> None:
    """Call ``work(k, parts)`` for every block ``k``, the blocks on parallel threads.

    Args:
        work: Computes block ``k`` of ``parts`` (use :func:`rows`) into preallocated
            outputs; blocks must not overlap. ``work(0, 1)`` is the whole step.
        total_rows: Rows of the output (no block gets fewer than :data:`MIN_ROWS`).
        size: Elements of work, to decide whether threads pay (:data:`MIN_ELEMENTS`).
    """
    parts = parts_for(total_rows, size)
    if parts == 1:
        work(0, 1)
        return
    with _split_lock, hold():
        lanes = _ready_lanes(parts - 1)
        _inside.busy = True
        posted: list[_Lane] = []
        try:
            context = contextvars.copy_context()  # NumPy's errstate lives in a context variable
            try:
                for k, lane in enumerate(lanes, start=1):
                    posted.append(lane)
                    lane.post(context.copy().run, work, k, parts)
                work(0, parts)
            finally:
                errors = [lane.wait() for lane in posted]  # every block ends before anything is raised
            for error in errors:
                if error is not None:
                    raise error
        finally:
            _inside.busy = False
            if not _sessions:
                _park(lanes)


@contextmanager
def session() -> Iterator[None]:
    """A run in progress: between its splits the lanes spin instead of sleeping.

    They are parked (sleep) when the last session ends, or earlier by :func:`park`.
    Re-entrant and thread-safe.
    """
    global _sessions
    entered = False
    try:
        with _state_lock:
            _sessions += 1
            entered = True
        yield
    finally:
        if entered:
            with _state_lock:
                _sessions -= 1
                last = _sessions == 0
            if last and not getattr(_inside, "busy", False):  # inside a split, the split parks
                park()


def park() -> None:
    """Let spinning lanes sleep now (a no-op if none is awake).

    Call it before a large BLAS call that does not split (a convolution's product):
    a lane spinning next to OpenBLAS's own threads slows both down.
    """
    if lanes_awake() and not getattr(_inside, "busy", False):
        with _split_lock:
            _park(_lanes)


def _park(lanes: list[_Lane]) -> None:
    for lane in lanes:
        lane.park()


def lanes_awake() -> bool:
    """Whether lanes are spinning (a split happened since the last :func:`park`)."""
    return any(lane.awake for lane in _lanes)


@contextmanager
def hold() -> Iterator[None]:
    """Keep the BLAS on one thread meanwhile (re-entrant; a no-op without OpenBLAS).

    Every :func:`split` holds it; so does any other large BLAS call while
    :func:`lanes_awake` (see the module docstring).
    """
    global _depth, _before
    blas = _controls()
    if blas is None:
        yield
        return
    entered = False
    try:
        with _state_lock:
            if _depth == 0:
                _before = blas[0]()
            _depth += 1
            entered = True
            blas[1](1)
        yield
    finally:
        if entered:
            with _state_lock:
                _depth -= 1
                blas[1](1 if _depth else _before)


class _Lane:
    """A helper thread that runs one block at a time.

    ``ready`` and ``done`` are pthread spin locks used as binary semaphores (locked =
    empty): :meth:`post` unlocks ``ready``, the lane takes it and runs the block,
    then unlocks ``done``, which :meth:`wait` takes. Both waits spin inside a C call,
    with the GIL released. A parked lane sleeps on an event instead.
    """

    def __init__(self) -> None:
        import ctypes

        self._ready, self._done = ctypes.c_int(0), ctypes.c_int(0)
        self._ready_ref, self._done_ref = ctypes.byref(self._ready), ctypes.byref(self._done)
        init, lock, self._unlock = _spin
        self._lock = lock
        for ref in (self._ready_ref, self._done_ref):
            init(ref, 0)
            lock(ref)
        self._task: tuple[Callable[..., Any], tuple[Any, ...]] | None = None
        self._error: BaseException | None = None
        self._awake = threading.Event()
        threading.Thread(target=self._loop, name="nnlab-lane", daemon=True).start()

    @property
    def awake(self) -> bool:
        return self._awake.is_set()

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        self._awake.set()
        self._task = (fn, args)
        self._unlock(self._ready_ref)

    def wait(self) -> BaseException | None:
        """Wait (spinning) for the posted block; returns its exception, if any."""
        self._lock(self._done_ref)
        error, self._error = self._error, None
        return error

    def park(self) -> None:
        """Let the lane sleep until the next :meth:`post`."""
        if self._awake.is_set():
            try:
                self.post(self._sleep)
            finally:
                self.wait()

    def _sleep(self) -> None:
        self._awake.clear()

    def _loop(self) -> None:
        _inside.busy = True  # a block never splits again
        while True:
            self._awake.wait()
            self._lock(self._ready_ref)
            fn, args = self._task
            try:
                fn(*args)
            except BaseException as exc:  # handed to the caller by wait()
                self._error = exc
            self._unlock(self._done_ref)


def _after_fork_in_child() -> None:
    """A forked child has none of its parent's threads: start from a clean state
    (another thread of the parent may have been inside a split or a run)."""
    global _lanes, _split_lock, _state_lock, _depth, _sessions, _inside
    blas = _blas or None
    if blas is not None and _depth:
        blas[1](_before)
    _lanes = []
    _split_lock, _state_lock = threading.Lock(), threading.Lock()
    _depth = _sessions = 0
    _inside = threading.local()


if hasattr(os, "register_at_fork"):  # no fork on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _ready_lanes(count: int) -> list[_Lane]:
    while len(_lanes) < count:
        _lanes.append(_Lane())
    return _lanes[:count]


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _spin_locks() -> bool:
    global _spin
    if _spin is None:
        _spin = False
        try:
            import ctypes

            libc = ctypes.CDLL(None)
            fns = libc.pthread_spin_init, libc.pthread_spin_lock, libc.pthread_spin_unlock
        except (OSError, AttributeError):
            return False
        for fn in fns:
            fn.restype = ctypes.c_int
        fns[0].argtypes = [ctypes.c_void_p, ctypes.c_int]
        _spin = fns
    return bool(_spin)


def _controls() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    """OpenBLAS's get/set thread count functions, or None (see the module docstring)."""
    global _blas
    if _blas is None:
        _blas = _find_openblas() or False
    return _blas or None


def _find_openblas() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    import numpy  # noqa: F401  (the BLAS is loaded with NumPy)

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = sorted({line.split(None, 5)[5].strip() for line in maps
                            if "openblas" in line.lower() and len(line.split(None, 5)) == 6})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_", ""):
            for suffix in ("64_", "_64", ""):
                get = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
                # the _local setter only sets a number (switching with the plain one measured slower)
                put = (getattr(lib, "openblas_set_num_threads_local", None)
                       or getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None))
                if get is not None and put is not None:
                    get.restype, get.argtypes = ctypes.c_int, []
                    put.argtypes = [ctypes.c_int]
                    return get, put
    return None
