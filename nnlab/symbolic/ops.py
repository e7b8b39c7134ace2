"""Every engine op written once more, on arrays of sympy expressions — by the op itself.

Why a second implementation: the symbolic layer must not trust the engine it checks.
Each op's :meth:`~nnlab.engine.ops.base.Op.symbolic` takes per-example ``object``
arrays of sympy expressions (no batch axis) and returns the op's output the way the
math defines it — a matrix product is a sum of products, a convolution output is its
Σₐ,ᵦ X·K written out, a max-pool output is
:class:`~nnlab.symbolic.functions.first_max` of its window. It lives beside the op's
numeric forward and backward (one module per op) and receives the toolkit
(:mod:`nnlab.symbolic.kit`) as an argument, so the engine never imports sympy.
Derivatives are then sympy's business (``diff``), never the engine's backward.

Only static settings (stride, axis, reduction…) and, for ops that declare
:attr:`~nnlab.engine.ops.base.Op.reads_values` (``cross_entropy``'s class indices),
the input numbers are read from the graph; every tensor is symbolic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnlab.engine.ops.base import REGISTRY, Op
from nnlab.symbolic import kit
from nnlab.symbolic.kit import NoSymbolicForm, amap, arr, number


def forward(op: Op, xs: list[np.ndarray | None], nums: list[Any] | None = None, *,
            batch: bool = False) -> np.ndarray:
    """The output of ``op`` on per-example symbolic inputs ``xs`` (object arrays).

    Args:
        op: The graph node's op (its static ``params`` are used).
        xs: One object array per tensor input (None for an absent optional input).
        nums: Per-example numeric values of the inputs (read by ops with ``reads_values``).
        batch: ``xs`` are batch-first, every example (what an op with ``across_examples``
            needs; its output is then the one row shared by all examples).

    Raises:
        NoSymbolicForm: For an op or setting without a symbolic form, and for an op that
            works across the examples when ``xs`` hold one example.
    """
    if op.across_examples and not batch:
        raise NoSymbolicForm(f"'{op.name}' works across the examples of a batch: "
                             "it has no form on one example")
    return arr(op.symbolic([None if x is None else arr(x) for x in xs], kit, nums))


def has_symbolic_form(op: Op | type[Op]) -> bool:
    """Whether the op (or op class) writes its own symbolic forward."""
    cls = op if isinstance(op, type) else type(op)
    return cls.symbolic is not Op.symbolic


NEEDS_NUMBERS = frozenset(name for name, cls in REGISTRY.items() if cls.reads_values)
"""Op names whose symbolic form depends on input *values* (class indices)."""

__all__ = ["NEEDS_NUMBERS", "NoSymbolicForm", "amap", "arr", "forward", "has_symbolic_form", "number"]
