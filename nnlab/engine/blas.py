"""How many BLAS threads a product gets, decided per call by its size (threadpoolctl).

OpenBLAS splits a product over all the machine's threads once it passes a small size
(about 2.6·10⁵ multiply-adds for a matrix product, 10⁴ for a matrix-vector one). On a
quiet machine that pays; on a busy one (a browser open, a shared lab machine, other
jobs) the second thread waits a scheduler slice (milliseconds) for a core, so a
product that takes a millisecond on one thread takes several on two: a 784-128-10
training ran 4.5–8.3× slower with the default threads than with one. So nnlab gives a
product the machine's threads only when it is large enough for them to pay even when a
core is taken — :data:`PARALLEL_MIN` multiply-adds, tens of milliseconds of work on
one thread — and one thread otherwise. Products under :data:`SERIAL_MAX` are left
alone (OpenBLAS keeps them on one thread itself), so a tiny graph makes no call here.

The setting sticks until a product of the other kind changes it, so a training of
mid-sized products sets it once. threadpoolctl (a maintained library) finds the BLAS
NumPy uses and sets its threads; it is imported on the first product that needs it.
"""

from __future__ import annotations

from typing import Any

SERIAL_MAX = 8_192
"""Multiply-adds under which a product is left alone (OpenBLAS runs it on one thread anyway)."""
PARALLEL_MIN = 1 << 23
"""Multiply-adds (≈ 8.4·10⁶, 3–5 ms on one thread) from which a product uses the machine's threads: attention 512×64 and a batched conv run threaded, a 784-128-10 minibatch (6.4·10⁶) on one thread."""

_libs: list[Any] | None = None   # threadpoolctl controllers of the BLAS libraries, once looked up
_many = 1                       # threads of a large product: the BLAS's own default (OPENBLAS_NUM_THREADS…)
_current: int | None = None      # what the BLAS is set to now (None: its default, untouched)
enabled = True
"""False leaves the BLAS's threads alone (the benchmarks measure the default this way)."""


def product_threads(work: int) -> None:
    """Set the BLAS threads for the next product, of ``work`` multiply-adds."""
    global _current
    if work < SERIAL_MAX or not enabled:
        return
    libs = _libs if _libs is not None else _find()
    want = _many if work >= PARALLEL_MIN else 1
    if want != _current and libs:
        for lib in libs:
            lib.set_num_threads(want)
        _current = want


def _find() -> list[Any]:
    """The BLAS libraries' controllers (none without threadpoolctl), and their default thread count."""
    global _libs, _many, _current
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a dependency; without it the BLAS keeps its default
        _libs = []
        return _libs
    _libs = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    _many = max((lib.num_threads for lib in _libs), default=1)
    _current = _many
    return _libs
