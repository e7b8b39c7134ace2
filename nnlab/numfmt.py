"""Number formatting shared by the engine's explanations, the CLI and the TUI.

One formatter so that ``19`` prints as ``19`` (not ``19.0``), ``0.44081`` as
``0.4408`` at the default precision, an exact ``1/3`` as ``0.3333`` and tiny or huge
values in scientific notation — the same everywhere a number appears.
"""

from __future__ import annotations

import math
from fractions import Fraction

DEFAULT_DIGITS = 4


def as_float(value: object) -> float:
    """``float(value)``, but ±inf for a Fraction or integer too large for a float."""
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        return math.inf if value > 0 else -math.inf  # type: ignore[operator]


def json_safe(value: object) -> object:
    """``value`` with every non-finite float replaced by ``"inf"``, ``"-inf"`` or ``"nan"``
    (JSON has no infinities; Python's ``json`` would write ``Infinity``, which is not JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return fmt(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def fmt(value: object, digits: int = DEFAULT_DIGITS) -> str:
    """Format one scalar for people.

    Args:
        value: A Python/NumPy number, bool or Fraction.
        digits: Decimal places for non-integers (significant digits in scientific form).

    Returns:
        ``"19"``, ``"-0.4408"``, ``"1.5e-10"``, ``"inf"``, ``"nan"``, ``"True"``.
    """
    if isinstance(value, (bool,)) or type(value).__name__ == "bool_":
        return str(bool(value))
    if isinstance(value, Fraction):
        if value.denominator == 1 and abs(value.numerator) < 10**30:
            return str(value.numerator)
        if math.isinf(as_float(value)):  # exact, but beyond float64: scientific from the fraction itself
            from decimal import Decimal

            return f"{Decimal(value.numerator) / Decimal(value.denominator):.{digits}e}"
        value = as_float(value)
    try:
        x = as_float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x)) if x != 0 else "0"
    ax = abs(x)
    if 10 ** (-digits) <= ax < 1e7:
        text = f"{x:.{digits}f}".rstrip("0").rstrip(".")
        if text in ("-0", "0", ""):
            return f"{x:.{digits - 1}e}"
        return text
    return f"{x:.{max(1, digits - 1)}e}"


def fmt_paren(value: object, digits: int = DEFAULT_DIGITS) -> str:
    """Format a number, wrapping negatives in parentheses for use inside products."""
    text = fmt(value, digits)
    return f"({text})" if text.startswith("-") else text


def fmt_index(index: tuple[int, ...]) -> str:
    """``(0, 1)`` -> ``"[0,1]"``; ``()`` -> ``""``."""
    return "[" + ",".join(str(i) for i in index) + "]" if index else ""


def fmt_array(a: object, digits: int = DEFAULT_DIGITS, limit: int | None = None) -> list[str]:
    """Format a scalar, vector or matrix as aligned text lines (higher ranks: one block per leading index).

    Numbers are right-aligned per column so that decimal points line up for the
    common case of equal decimals. With ``limit``, at most that many entries are
    shown along each axis (the first ones, then ``…``).
    """
    import numpy as np

    arr = np.asarray(a)
    if arr.ndim == 0:
        return [fmt(arr.item(), digits)]

    def cut(n: int) -> int:
        return n if limit is None or n <= limit else limit

    more = "  …" if limit is not None and arr.shape[-1] > limit else ""
    if arr.ndim == 1:
        cells = [fmt(v, digits) for v in arr[:cut(len(arr))].tolist()]
        return ["[" + "  ".join(cells) + more + "]"]
    if arr.ndim == 2:
        rows = arr[:cut(arr.shape[0]), :cut(arr.shape[1])]
        cells = [[fmt(v, digits) for v in row] for row in rows.tolist()]
        widths = [max(len(r[j]) for r in cells) for j in range(rows.shape[1])]
        lines = ["[" + "  ".join(c.rjust(w) for c, w in zip(row, widths)) + more + "]" for row in cells]
        if rows.shape[0] < arr.shape[0]:
            lines.append(f" … {arr.shape[0] - rows.shape[0]} more rows")
        return lines
    lines: list[str] = []
    for i in range(cut(arr.shape[0])):
        lines.append(f"[{i}]")
        lines.extend("  " + line for line in fmt_array(arr[i], digits, limit))
    if limit is not None and arr.shape[0] > limit:
        lines.append(f"… {arr.shape[0] - limit} more")
    return lines
