"""How much work a scenario file may ask for: every limit in one place.

A file from a classmate or the internet must not be able to freeze a laptop, so each
kind of work a file can ask for has a bound, checked *before* the work is done, and
each bound is reported as an ordinary located error (``nnlab`` exits 2) naming the
limit and how to raise it. The defaults are generous: every bundled scenario stays
far below them.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any

MAX_DEPTH = 64
"""YAML collections nested deeper than this are refused (NumPy arrays have at most 64 axes)."""

MAX_TENSOR_DIMS = 16
"""A tensor written in a file has at most this many axes (the engine adds one for examples; NumPy stops at 32 in places)."""

MAX_ALIAS_NODES = 100_000
"""YAML aliases may repeat at most this many nodes in total (a "billion laughs" file stops here)."""

MAX_NUMBER_DIGITS = 100
"""A number written in a file has at most this many digits (more is never a hand-computed value)."""

MAX_EXPONENT = 400
"""``1e±N`` with N beyond this is refused: float64 ends near 1e±308, and an exact decimal
with a huge exponent is a huge integer."""

DEFAULT_MAX_ELEMENTS = 50_000_000
"""Elements per tensor (``--max-elements``, ``options.max_elements``)."""

DEFAULT_MAX_UPDATES = 1_000_000
"""Parameter updates of a training run (``options.max_updates``): 100,000 XOR epochs are 100,000."""

BYTES_PER_WRITTEN_VALUE = 400
"""What one number written in the file costs while it is parsed (YAML event, node, position)."""


_budget: int | None = None


def memory_budget() -> int:
    """The bytes a run's arrays may take: :func:`set_memory_budget`'s value, else the default."""
    return _budget if _budget is not None else default_memory_budget()


def set_memory_budget(n: int | None) -> None:
    """Set the memory budget for this process (the CLI's ``--max-memory``); None restores the default."""
    global _budget
    _budget = n


@functools.lru_cache(maxsize=1)
def default_memory_budget() -> int:
    """Bytes a run may hold in arrays: ``NNLAB_MAX_MEMORY`` (e.g. ``2G``), else half the machine's memory, at most 8 GiB.

    Read once per process: the engine asks for the budget at every node it adds (~400 times in
    ``nnlab validate`` of the bundled scenarios), and reading the environment each time cost ~0.4 ms.
    """
    text = os.environ.get("NNLAB_MAX_MEMORY", "").strip()
    if text:
        parsed = parse_bytes(text)
        if parsed is not None:
            return parsed
    return int(min(_machine_memory() // 2, 8 << 30))


@functools.lru_cache(maxsize=1)
def _machine_memory() -> int:
    """The machine's memory in bytes (asked once: a convolution checks its budget at every step)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 << 30


def parse_bytes(text: str) -> int | None:
    """``"2G"``, ``"512M"``, ``"1000000"`` → bytes; None if unreadable."""
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in "KMGT" and text else text
    try:
        value = float(number)
    except ValueError:
        return None
    if not 0 < value < 1e18:
        return None
    return int(value * scale)


def fmt_bytes(n: int) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # pragma: no cover


def charge_node(total: int, elements: int, batched: bool, scenario: Any, loc: Any) -> int:
    """Add a computed node to a graph's estimated memory, or refuse it before anything runs.

    A node holds its value and, in the backward pass, its gradient: 16 bytes an element,
    times the number of examples if it has one row per example.

    Args:
        total: The bytes counted so far.
        elements: The node's elements (per example).
        batched: Whether it has one row per example.
        scenario: The scenario (for the number of examples).
        loc: Where the node is written.

    Returns:
        The new total.

    Raises:
        NnlabError: The total passes :func:`memory_budget`.
    """
    if getattr(scenario, "shape_only", False):  # shapes are inferred, nothing is allocated
        return total
    examples = 1
    if batched and scenario.data:
        first = next(iter(scenario.data.values())).array
        examples = len(first) if first.ndim else 1
    total += elements * examples * 16
    budget = memory_budget()
    if total > budget:
        from nnlab.errors import NnlabError

        raise NnlabError(f"the computation needs more than the memory budget of {fmt_bytes(budget)} "
                         f"(about {fmt_bytes(total)} up to here)", loc,
                         "make the tensors smaller, or raise the budget with --max-memory.", kind="size")
    return total


def scratch_problem(nbytes: int, what: str) -> str | None:
    """Why an op's temporary working memory cannot be allocated, or None — asked *before*
    allocating it (convolution's im2col columns), so a too-large request is a located
    error naming the op instead of an out-of-memory failure halfway through.

    Args:
        nbytes: The bytes the op would allocate beyond its inputs and output.
        what: What needs them, for the message (``"the scratch space (im2col) of 'conv2d'"``).
    """
    budget = memory_budget()
    if nbytes <= budget:
        return None
    return f"{what} needs about {fmt_bytes(nbytes)}, more than the memory budget of {fmt_bytes(budget)}"


_NUMBER = re.compile(r"[-+]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$").match


def number_problem(text: str) -> str | None:
    """Why a number written in a file or an equation is too big to read, or None.

    Reading ``9``×5000 or ``1e-999999999`` exactly would build integers with thousands
    or a billion digits; no hand computation needs more than :data:`MAX_NUMBER_DIGITS`
    digits or an exponent beyond :data:`MAX_EXPONENT`.
    """
    if (len(text) <= 24 and "e" not in text and "E" not in text) or _NUMBER(text) is None:
        return None
    mantissa, _, exponent = text.lower().partition("e")
    digits = sum(c.isdigit() for c in mantissa)
    if digits > MAX_NUMBER_DIGITS:
        return f"a number with {digits:,} digits; nnlab reads numbers of at most {MAX_NUMBER_DIGITS} digits"
    exp_digits = exponent.lstrip("+-").lstrip("0")
    if len(exp_digits) > 6 or (exp_digits and int(exp_digits) > MAX_EXPONENT):
        shown = text if len(text) <= 24 else text[:23] + "…"
        return f"the exponent of {shown} is beyond ±{MAX_EXPONENT} (float64 reaches about 1e±308)"
    return None
