"""``concat([a, b, …], axis=0)`` and ``stack([a, b, …], axis=0)``: tensors joined along
an existing axis (``torch.cat``, ``np.concatenate``) or along a new one (``torch.stack``).

Every output element is one element of one input, so the backward pass cuts the upstream
gradient back into pieces: each input gets its own part, unchanged. A tensor listed twice
(``concat([a, a])``) collects both parts (gradients accumulate). The axis is per example
(``axis=0`` is the first axis of ``a``, not the example axis of a data batch).

Both ops — forward, backward, explanation, symbolic form, examples — are this module.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from nnlab.engine.ops.base import Example, Op, Param, ShapeError, pe_axis, register, whole
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index


class _Join(Op):
    """Inputs placed side by side along ``axis``; each output element comes from one input."""

    signature = (Param("xs", many=True), Param("axis", tensor=False, default=0))
    keeps_finite = True
    rational = True
    new_axis: ClassVar[bool] = False

    def _axis(self, ndim: int) -> int:
        """The per-example axis in an input of ``ndim`` axes (of the output, for ``stack``)."""
        n = ndim + 1 if self.new_axis else ndim
        if n == 0:
            raise ShapeError(f"{self.name} needs tensors with at least one axis, got numbers",
                             "use stack([a, b]) to make a vector of numbers" if self.name == "concat" else None)
        return pe_axis(whole(self.params.get("axis", 0), "axis", self), n, self) - 1

    def infer(self, *shapes):
        first = tuple(shapes[0])
        axis = self._axis(len(first))
        for k, s in enumerate(shapes[1:], start=1):
            s = tuple(s)
            same = s == first if self.new_axis else (
                len(s) == len(first) and all(a == b for i, (a, b) in enumerate(zip(s, first)) if i != axis))
            if not same:
                rule = "all the same shape" if self.new_axis else f"the same shape except along axis {axis}"
                raise ShapeError(f"{self.name}: input {k + 1} has shape {s} but input 1 has {first}; they must be "
                                 f"{rule}", "check the list's shapes with shape(…)")
        if self.new_axis:
            return first[:axis] + (len(shapes),) + first[axis:]
        return first[:axis] + (sum(s[axis] for s in shapes),) + first[axis + 1:]

    def forward(self, *xs):
        batch = max(x.shape[0] for x in xs)
        xs = [x if x.shape[0] == batch else np.broadcast_to(x, (batch,) + x.shape[1:]) for x in xs]
        axis = self._axis(xs[0].ndim - 1) + 1
        self.saved = {"axis": axis, "sizes": [1 if self.new_axis else x.shape[axis] for x in xs]}
        return np.stack(xs, axis=axis) if self.new_axis else np.concatenate(xs, axis=axis)

    def backward(self, g):
        axis, sizes = self.saved["axis"], self.saved["sizes"]
        cuts = np.cumsum(sizes)[:-1]
        parts = np.split(g, cuts, axis=axis)
        return tuple(np.squeeze(p, axis=axis) if self.new_axis else p for p in parts)

    def source(self, index: tuple[int, ...], shapes: list[tuple[int, ...]]) -> tuple[int, tuple[int, ...]]:
        """Which input, and which element of it, output element ``index`` (per example) is."""
        axis = self._axis(len(shapes[0]))
        if self.new_axis:
            return index[axis], index[:axis] + index[axis + 1:]
        at = index[axis]
        for k, s in enumerate(shapes):
            if at < s[axis]:
                return k, index[:axis] + (at,) + index[axis + 1:]
            at -= s[axis]
        raise IndexError(index)  # pragma: no cover - the index is in range

    def explain(self, index, xs, out, names, out_name, digits):
        k, src = self.source(tuple(index), [np.shape(x) for x in xs])
        return Explanation(f"{out_name}{fmt_index(index)}", self.formula,
                           f"{names[k]}{fmt_index(src)}", out[index], (Use(k, src),))

    def dependents(self, k, index, out_shape):
        shapes = [s[1:] for s in self.in_shapes]
        axis = self._axis(len(shapes[0]))
        if self.new_axis:
            return [tuple(index[:axis]) + (k,) + tuple(index[axis:])]
        offset = sum(s[axis] for s in shapes[:k])
        return [tuple(index[:axis]) + (index[axis] + offset,) + tuple(index[axis + 1:])]

    def local(self, k, out_index, in_index):
        (want,) = self.dependents(k, tuple(in_index[1:]), self.out_shape[1:])
        return 1.0 if tuple(out_index[1:]) == want else 0.0

    def symbolic(self, xs, sym, nums=None):
        axis = self._axis(xs[0].ndim)
        return np.stack(xs, axis=axis) if self.new_axis else np.concatenate(xs, axis=axis)

    def rule(self, c, sym):
        y = sym.symbol(c.out)
        joined = sym.symbol(f"{self.name}([{', '.join(str(n) for n in c.names)}], axis={self.params.get('axis', 0)})")
        ders = tuple(sym.deriv(str(n), k, y, sym.symbol(str(n)), sym.sp.S.One)
                     for k, n in enumerate(c.names) if not c.consts[k])
        note = ("each element of the result is one element of one input: the gradient is cut back into the "
                "inputs' parts, unchanged")
        return sym.sp.Eq(y, joined), ders, (note,)

    def describe(self):
        return f"axis={self.params.get('axis', 0)}"


@register
class Concat(_Join):
    """``concat([a, b, …], axis=0)``: joined along an existing axis (``torch.cat``)."""

    name = "concat"
    formula = "y = [a, b, …] joined along axis (torch.cat)"
    example = Example("y = concat([a, b], axis=1)", {"a": [[0.5, -1.0], [1.5, 0.25]], "b": [[2.0], [-0.5]]})


@register
class Stack(_Join):
    """``stack([a, b, …], axis=0)``: same-shape tensors along a new axis (``torch.stack``)."""

    name = "stack"
    new_axis = True
    formula = "y = [a, b, …] along a new axis (torch.stack)"
    example = Example("y = stack([a, b], axis=1)", {"a": [0.5, -1.0, 2.0], "b": [1.5, 0.25, -0.5]})
