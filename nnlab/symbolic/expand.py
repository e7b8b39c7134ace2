"""From a run's graph to sympy expressions: element symbols, constants, node values.

A graph node's per-example value becomes an ``object`` array of sympy expressions by
applying :func:`nnlab.symbolic.ops.forward` node by node in topological order —
built from the parsed equations (the graph), never from scenario text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np
import sympy as sp

from nnlab.numfmt import fmt_index
from nnlab.symbolic.ops import number

_ROOT = re.compile(r"^√(\d+)$")


@lru_cache(maxsize=65536)
def elem_symbol(nid: str, index: tuple[int, ...] = (), suffix: str = "") -> sp.Symbol:
    """The real symbol of one element: ``a1[0]``, ``W1[0,1]``, ``loss`` (``suffix`` tells examples apart)."""
    return sp.Symbol(f"{nid}{fmt_index(index)}{suffix}", real=True)


def symbols_of(nid: str, shape: tuple[int, ...], suffix: str = "") -> np.ndarray:
    """An object array of :func:`elem_symbol` for every element of a per-example shape."""
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = elem_symbol(nid, tuple(int(i) for i in idx), suffix)
    return out


def const_value(node: Any) -> sp.Expr:
    """A constant node as an exact sympy number (``√2`` from attention's scale stays √2)."""
    m = _ROOT.match(node.label or "")
    if m:
        return sp.sqrt(int(m[1]))
    if node.exact is not None:
        return number(np.asarray(node.exact).item())
    return number(np.asarray(node.value).item())


def const_array(node: Any) -> np.ndarray:
    """A constant as a 0-d object array."""
    out = np.empty((), dtype=object)
    out[()] = const_value(node)
    return out


def example_of(run: Any, nid: str, example: int) -> np.ndarray:
    """Per-example float values of a node (example 0 for unbatched nodes)."""
    from nnlab.engine.run import to_float

    a = run.values[nid]
    return to_float(a[example] if a.shape[0] > 1 else a[0])
