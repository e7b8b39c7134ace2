"""Keep freed array memory in the process instead of handing it back to the kernel.

A run allocates the same large arrays again and again (every step of a 512-token
attention makes 2 MB tensors; a training loop makes new parameters every update).
glibc's malloc serves blocks that big with ``mmap`` and trims the heap top as soon as
a few megabytes are free, so every run starts on fresh pages: for that attention
graph about 3,400 page faults per run, which doubled its time. The first time a run
produces a large array, :func:`keep_freed_memory` raises glibc's mmap threshold to
32 MB and its trim threshold to 256 MB, so freed blocks are reused. The memory stays
counted to the process (at most what it held at its peak), which is the usual trade
of numerical programs. ``NNLAB_MALLOC=default`` leaves malloc alone; other C
libraries are left alone too.
"""

from __future__ import annotations

import os
import sys

LARGE_ELEMENTS = 1 << 14
"""An array with this many elements (128 kB of float64, glibc's default mmap threshold) is large."""

MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers

tried = False
"""Whether :func:`keep_freed_memory` has run (callers test this before calling)."""
_tuned = False


def keep_freed_memory() -> bool:
    """Tune glibc malloc once per process (see the module docstring).

    Returns:
        Whether malloc was tuned (False on other platforms, other C libraries, or
        with ``NNLAB_MALLOC=default``).
    """
    global tried, _tuned
    if tried:
        return _tuned
    tried = True  # once, whatever happens
    if os.environ.get("NNLAB_MALLOC") == "default" or not sys.platform.startswith("linux"):
        return False
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    _tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _tuned
