"""Run the two independent matrix products of a backward step at the same time.

The backward of ``A @ B`` needs ``G @ Bᵀ`` and ``Aᵀ @ G``, two products that do not
depend on each other. For the 512×64 and 512×512 shapes of attention, OpenBLAS
keeps two cores only partly busy with one product at a time; issuing the two from
two threads (NumPy releases the GIL inside ``matmul``) took 0.76 ms instead of
0.94 ms on the development machine. The results are the same to the last bit: each
product is one GEMM call either way.

Small products run one after the other on the calling thread: handing work to a
thread costs tens of microseconds.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
U = TypeVar("U")

MIN_MULTIPLY_ADDS = 1 << 21
"""Below this many multiply-adds (for the pair) the two products run in sequence."""

_pool: Any = None  # a one-thread ThreadPoolExecutor, made on first use (keeps `nnlab check` light)


def _cpus() -> int:
    """CPUs this process may use, lowered by a BLAS/OpenMP thread limit if one is set."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            cpus = min(cpus, int(value))
    return cpus


CPUS = _cpus()
"""Two products run at once only if this is at least 2 (``OMP_NUM_THREADS=1`` turns it off)."""


def both(first: Callable[[], T], second: Callable[[], U], multiply_adds: int) -> tuple[T, U]:
    """``(first(), second())``, computed concurrently when the work is large enough.

    Args:
        first: One product (a thunk).
        second: The other, independent of the first.
        multiply_adds: The work of the two together, to decide whether a thread pays.
    """
    global _pool
    if CPUS < 2 or multiply_adds < MIN_MULTIPLY_ADDS:
        return first(), second()
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nnlab-pair")
    # NumPy's error state (np.errstate) lives in a context variable: run the second
    # product in a copy of the caller's context so it ignores or raises exactly alike.
    later = _pool.submit(contextvars.copy_context().run, second)
    return first(), later.result()


def _forget_pool() -> None:
    """In a forked child the pool's thread does not exist: make a new pool when needed."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)
