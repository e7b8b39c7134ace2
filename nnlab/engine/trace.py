"""The records a run produces: steps and per-element explanations.

A run is data. The trace is a tuple of frozen :class:`Step` records — one per forward
operation, then one per backward operation — and the views (CLI, TUI) own nothing
but an index into it. :class:`Explanation` is what "explain this element" returns:
which input elements were used (for highlighting), the rule, and the arithmetic
written out — built by the op that knows the math, never glued together in the UI.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

FORWARD = "forward"
BACKWARD = "backward"
UPDATE = "update"


class Use(NamedTuple):
    """One element an explanation used.

    Attributes:
        slot: Which input of the op (0-based). ``-1`` is the op's output,
            ``-2`` the upstream gradient of a backward step.
        index: The element's index within that tensor (per example). For conv and
            pooling inputs it is an index into the *padded* input (see
            :attr:`Explanation.pads`).
        role: ``"used"``, ``"padding"`` (a zero from padding), ``"argmax"`` (the
            maximum a max-pool or max picked), ``"masked"`` (a masked attention
            score), ``"weight"`` (a kernel/weight element).
        extent: ``()`` for the one element ``index``; else a box of elements: ``extent[a]``
            elements along each axis ``a`` from ``index`` on. A reduction over ten million
            elements says "all of x" with one record instead of ten million
            (:meth:`cells`, :meth:`covers`).
    """

    slot: int
    index: tuple[int, ...]
    role: str = "used"
    extent: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        """How many elements this record stands for."""
        n = 1
        for e in self.extent:
            n *= e
        return n

    def covers(self, index: tuple[int, ...]) -> bool:
        """True if element ``index`` is one of this record's elements."""
        if not self.extent:
            return tuple(index) == tuple(self.index)
        return len(index) == len(self.index) and all(
            s <= i < s + e for i, s, e in zip(index, self.index, self.extent))

    def cells(self) -> Iterator[tuple[int, ...]]:
        """Every element index, row-major, one at a time: an odometer over the box (itertools.product
        would first copy each axis's range, ten million numbers for a long vector)."""
        if not self.extent:
            yield tuple(self.index)
            return
        if 0 in self.extent:
            return
        at, stop = list(self.index), [s + e for s, e in zip(self.index, self.extent)]
        while True:
            yield tuple(at)
            axis = len(at) - 1
            while axis >= 0:
                at[axis] += 1
                if at[axis] < stop[axis]:
                    break
                at[axis] = self.index[axis]
                axis -= 1
            if axis < 0:
                return


class Explanation(NamedTuple):
    """How one element was computed.

    Attributes:
        lhs: The element being explained: ``"Y[0,0]"`` or ``"∂loss/∂a1[0]"``.
        formula: The op's rule for that element, in symbols.
        arithmetic: The rule with numbers substituted: ``"0×0 + 1×1 + 3×2 + 4×3"``.
        value: The result (what the engine computed).
        uses: Input elements used, for highlighting.
        pads: For inputs shown padded: ``(slot, ((top, bottom), (left, right)))``.
        note: A convention worth saying at this element (ties, clamping, masks).
    """

    lhs: str
    formula: str
    arithmetic: str
    value: Any
    uses: tuple[Use, ...] = ()
    pads: tuple[tuple[int, tuple[tuple[int, int], ...]], ...] = ()
    note: str = ""

    @property
    def text(self) -> str:
        """One line: ``lhs = arithmetic = value``."""
        from nnlab.numfmt import fmt

        result = fmt(self.value)
        if self.arithmetic and self.arithmetic != result:
            return f"{self.lhs} = {self.arithmetic} = {result}"
        return f"{self.lhs} = {result}"


class Step(NamedTuple):
    """One recorded operation of a run.

    Attributes:
        index: Position in the trace.
        phase: ``"forward"``, ``"backward"`` or ``"update"``.
        node: The node id (``"z1"``, or ``"z1#1"`` for an unnamed sub-expression).
        label: What to show: ``"z1 = W1 @ x + b1"`` / ``"W1 @ x"`` / ``"∂loss/∂z1"``.
        op: The op's registered name (``"matmul"``, ``"conv2d"``…).
        inputs: Ids of the op's input nodes.
        line: Index of the ``compute`` line the node came from (−1 for none).
        shape: Shape of the output (forward) or of the gradient (backward), per example.
        accumulates: Backward only: for each input, ``(k, n)`` — this step adds the
            k-th of n contributions to that input's gradient (n > 1 means the input
            is used more than once and its gradients add up).
        epoch: Training only: the epoch this step belongs to.
        update: Training only: the update number (1-based) this step belongs to.
    """

    index: int
    phase: str
    node: str
    label: str
    op: str
    inputs: tuple[str, ...]
    line: int
    shape: tuple[int, ...]
    accumulates: tuple[tuple[int, int], ...] = ()
    epoch: int | None = None
    update: int | None = None


def freeze(a: np.ndarray) -> np.ndarray:
    """Mark an array read-only so a recorded trace cannot be changed by accident."""
    if isinstance(a, np.ndarray):
        a.flags.writeable = False
    return a
