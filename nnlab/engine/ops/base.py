"""The op protocol: forward, backward, shape rule and explanation side by side.

Each op is one class registered by name (early tinygrad's ``ops.py``). An instance
is created per graph node and holds that node's static parameters (``stride=2``) and
whatever forward saved for backward (``self.saved``).

**Batch-first arrays.** Every tensor inside the engine carries a leading example
axis: parameters and constants have size 1 there, a data set has one row per
example. Ops therefore compute "per example" on axes ``1:`` and broadcast over axis
0, so one NumPy call evaluates a whole batch. Shapes given to :meth:`Op.infer` and
indices given to the explanation methods are *per example* (no batch axis).

Backward returns, for each input, the vector-Jacobian product ∂T/∂input given the
upstream ∂T/∂output ``g``; it may keep broadcast axes — the engine sums them away
(:func:`unbroadcast`) and accumulates with ``+=``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, ClassVar, NamedTuple

import numpy as np

from nnlab.engine.trace import Explanation
from nnlab.numfmt import fmt, fmt_index, fmt_paren

REQUIRED = object()


class ShapeError(Exception):
    """Raised by :meth:`Op.infer`; the graph builder adds the location."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


# A NamedTuple and a plain class, not frozen dataclasses: every command imports this module, and a
# dataclass costs ~0.5 ms to define
class Param(NamedTuple):
    """One entry of an op's call signature.

    Attributes:
        name: Keyword name.
        tensor: True for tensor inputs (graph edges), False for static settings.
        default: Default value; :data:`REQUIRED` if it must be given. A tensor
            input with default ``None`` is optional.
        many: A list of tensors written ``[a, b, …]`` (``concat``, ``stack``): each item is
            one input of the op, so forward and backward get one array per item.
    """

    name: str
    tensor: bool = True
    default: Any = REQUIRED
    many: bool = False


class Example:
    """A tiny runnable use of an op, for the coverage tests that find every registered op.

    Attributes:
        compute: The compute line(s), the op's result named ``y``
            (``"y = sigmoid(x)"``).
        values: The inputs as a scenario writes them (``{"x": [0.5, -1.0]}``).
        fixed: Inputs not to differentiate numerically (class indices…).
        data: Inputs with one row per example, as under ``data:`` (ops across the examples).
    """

    __slots__ = ("compute", "data", "fixed", "values")

    def __init__(self, compute: str, values: dict[str, Any] | None = None, fixed: tuple[str, ...] = (),
                 data: dict[str, Any] | None = None) -> None:
        self.compute, self.fixed = compute, fixed
        self.values = {} if values is None else values
        self.data = {} if data is None else data


REGISTRY: dict[str, type[Op]] = {}


def register(cls: type[Op]) -> type[Op]:
    """Class decorator: make the op callable by its ``name`` in equations."""
    REGISTRY[cls.name] = cls
    return cls


class Op:
    """Base class of all ops.

    Class attributes:
        name: Name used in equations (``"sigmoid"``) or for an operator (``"add"``).
        signature: Ordered call signature (tensor inputs and static settings).
        formula: The rule in symbols, shown beside every step.
        derivative: The local derivative in symbols, written in ``x`` (input) and ``y``
            (output), shown in backward explanations; empty where it depends on indices.
        rational: True if the op maps rationals to rationals exactly (usable in
            exact decimal arithmetic: + − × / @ step relu max sum…).
        symbol: Infix symbol for operators (``"+"``), else empty.
        keeps_finite: True if finite inputs (and upstream gradients below ~1e307) always
            give finite results, so the engine may skip its NaN/inf check for this op.
        rule_notes: Conventions stated beside the op's symbolic rule.
        reads_values: True if the symbolic form depends on input *values* (class indices).
        example: A tiny runnable use (:class:`Example`) for the coverage tests.
        written: How a scenario writes the op, as the op table of
            ``docs/scenario-format.md`` lists it (``"*"``, ``"x[i, j]"``); empty = ``name``.
        across_examples: True if the op computes across the example axis (batch statistics):
            its output is one row from every example, shared by all (an unbatched node), and
            forward, backward, explain and symbolic get whole batch-first arrays.

    Instance attributes:
        params: The node's static settings, as written (never changed after creation).
        saved: What forward keeps for backward and the explanations.
        exact: True when computing on Fractions (set by the engine).
        needs: Which tensor inputs need a gradient (set by the engine before backward;
            an op may skip the others and return None for them).
        out_shape, in_shapes: Batch-first shapes of this run's output and inputs
            (set by the engine after forward; None for an absent optional input).
    """

    name: ClassVar[str] = ""
    signature: ClassVar[tuple[Param, ...]] = (Param("x"),)
    formula: ClassVar[str] = ""
    derivative: ClassVar[str] = ""
    rational: ClassVar[bool] = False
    symbol: ClassVar[str] = ""
    keeps_finite: ClassVar[bool] = False  # finite inputs can only give finite outputs and gradients
    rule_notes: ClassVar[tuple[str, ...]] = ()
    reads_values: ClassVar[bool] = False
    example: ClassVar[Example | None] = None
    written: ClassVar[str] = ""
    across_examples: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = params
        self.saved: dict[str, Any] = {}
        self.exact: bool = False
        self.needs: tuple[bool, ...] = (True,) * len(self.tensor_params)
        self.out_shape: tuple[int, ...] = ()
        self.in_shapes: list[tuple[int, ...] | None] = []

    # -- the protocol ------------------------------------------------------------
    def infer(self, *shapes: tuple[int, ...] | None) -> tuple[int, ...]:
        """Per-example output shape from per-example input shapes (None = absent)."""
        return broadcast_shapes(self, *[s for s in shapes if s is not None])

    def forward(self, *xs: np.ndarray | None) -> np.ndarray:
        """Compute the output from batch-first inputs; save what backward needs."""
        raise NotImplementedError

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        """Vector-Jacobian products for each input given the upstream gradient ``g``."""
        raise NotImplementedError

    def explain(self, index: tuple[int, ...], xs: list, out: np.ndarray, names: list[str],
                out_name: str, digits: int) -> Explanation:
        """Explain output element ``index`` (per-example arrays, no batch axis)."""
        return Explanation(f"{out_name}{fmt_index(index)}", self.formula, "", out[index])

    def shape_rule(self, *shapes: tuple[int, ...] | None) -> str:
        """The output-shape formula with numbers substituted (conv/pool), else ``""``."""
        return ""

    # -- the symbolic oracle (``sym`` is nnlab.symbolic.kit, passed in so that the engine
    #    never imports sympy) ------------------------------------------------------------
    def symbolic(self, xs: list[np.ndarray | None], sym: Any, nums: list[Any] | None = None) -> np.ndarray:
        """The output on per-example object arrays of sympy expressions (no batch axis).

        A second, independent implementation written the way the math defines the op
        (a product is a sum of products); never the engine's backward.

        Args:
            xs: One object array per tensor input (None for an absent optional input).
            sym: The toolkit, :mod:`nnlab.symbolic.kit`.
            nums: Per-example numeric input values (read only by ops with
                :attr:`reads_values`).

        Raises:
            sym.NoSymbolicForm: For a setting without a symbolic form.
        """
        raise sym.NoSymbolicForm(f"no symbolic form for '{self.name}'")

    def symbolic_caveat(self, values: list[np.ndarray | None], consts: list[bool]) -> str:
        """Why the symbolic form does not hold at these input values (the engine's
        numerical conventions take over from the math there), or ``""``.

        Args:
            values: Batch-first float64 input values (None for an absent input).
            consts: Which inputs are constants written in the equation.
        """
        return ""

    def rule(self, c: Any, sym: Any) -> tuple[Any, tuple[Any, ...], tuple[str, ...]]:
        """The step's rule: ``(Eq(output, formula), local derivatives, notes)``.

        ``c`` is a :class:`nnlab.symbolic.kit.RuleContext` (the step's names and
        shapes). The default derives an elementwise rule from :meth:`symbolic`; ops
        over indices write theirs with :class:`sympy.IndexedBase`.
        """
        return sym.elementwise_rule(self, c, notes=self.rule_notes)

    # -- backward explanations -------------------------------------------------------
    def dependents(self, k: int, index: tuple[int, ...],
                   out_shape: tuple[int, ...]) -> list[tuple[int, ...]] | None:
        """Per-example output indices that depend on element ``index`` of input ``k``.

        ``None`` means "possibly all" (the engine then asks :meth:`local` for every
        output element and keeps the non-zero ones). Ops with large outputs and a
        known sparsity (conv, pooling, elementwise) override this.
        """
        return None

    def local(self, k: int, out_index: tuple[int, ...], in_index: tuple[int, ...]) -> float:
        """∂out[out_index] / ∂input_k[in_index]; both indices batch-first.

        The default pulls a one-hot upstream gradient back through :meth:`backward`
        (correct for every op, fine for small tensors); ops override it with the
        closed form where outputs are large.
        """
        cache = self.saved.setdefault("_jac_rows", {})
        row = cache.get(out_index)
        if row is None:
            g = np.zeros(self.out_shape)
            g[out_index] = 1.0
            row = self.backward(g)
            cache[out_index] = row
        grad = row[k]
        if grad is None:
            return 0.0
        shape = self.in_shapes[k]
        assert shape is not None
        return unbroadcast(np.asarray(grad), shape)[in_index]

    # -- helpers -----------------------------------------------------------------
    @property
    def tensor_params(self) -> list[Param]:
        return [p for p in self.signature if p.tensor]

    def describe(self) -> str:
        """Static settings as ``key=value`` text, for labels and status lines."""
        parts = [f"{k}={v!r}" for k, v in self.params.items() if v is not None]
        return ", ".join(parts)


# ------------------------------------------------------------------ array helpers


def pe_ndim(x: np.ndarray) -> int:
    """Number of per-example axes of a batch-first array."""
    return x.ndim - 1


def align(*xs: np.ndarray) -> list[np.ndarray]:
    """Reshape batch-first arrays so NumPy broadcasting applies per example.

    Per-example shapes are right-aligned (NumPy's rule); the batch axis stays first.
    """
    if len(xs) == 2 and xs[0].ndim == xs[1].ndim:  # nothing to do (the usual case: no call to make)
        return list(xs)
    n = max(pe_ndim(x) for x in xs)
    return [x.reshape((x.shape[0],) + (1,) * (n - pe_ndim(x)) + x.shape[1:]) for x in xs]


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` down to ``shape`` (a batch-first shape) undoing broadcasting.

    Handles both extra leading axes and axes of size 1, and per-example shapes with
    fewer axes than ``g`` (right-aligned).
    """
    if g.shape == shape:
        return g
    if shape[0] == 1 and g.shape[1:] == shape[1:]:  # a parameter's gradient: the sum over the examples
        return _add_reduce(g, axis=0, keepdims=True)
    batch, pe = shape[0], shape[1:]
    n = g.ndim - 1
    aligned = (batch,) + (1,) * (n - len(pe)) + tuple(pe)
    if len(aligned) != g.ndim:  # g has fewer axes: cannot happen for our ops
        raise ValueError(f"cannot unbroadcast {g.shape} to {shape}")
    axes = tuple(i for i, (a, b) in enumerate(zip(aligned, g.shape)) if a == 1 and b != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


_add_reduce = np.add.reduce  # what ndarray.sum calls (the same pairwise sum), without its wrapper


def broadcast_shapes(op: Op, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy's broadcast rule with an error that names the op and both shapes."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        pretty = " and ".join(str(tuple(s)) for s in shapes)
        raise ShapeError(
            f"shapes {pretty} do not broadcast for '{op.symbol or op.name}'",
            "elementwise ops need equal shapes, or 1 (or a missing axis) where they differ;"
            " for a matrix-vector product use @.",
        ) from None


def whole(value: Any, what: str, op: Op) -> int:
    """``value`` as an int, or a ShapeError if it is not a whole number (``axis='a'``)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)  # axis=1.0 is axis 1, as in a reference
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ShapeError(f"{what} must be a whole number in '{op.name}', got {value!r}",
                         f"e.g. {what}=-1 (the last axis)" if what == "axis" else None)
    return int(value)


def pe_axis(axis: int, ndim: int, op: Op) -> int:
    """Normalize a per-example axis (may be negative) to a batch-first axis."""
    axis = whole(axis, "axis", op)
    if not -ndim <= axis < ndim:
        raise ShapeError(f"axis {axis} is out of range for a tensor with {ndim} axes in '{op.name}'")
    return axis % ndim + 1


def pe_axes(axis: Any, ndim: int, op: Op) -> tuple[int, ...]:
    """Normalize ``axis=None|int|list`` to batch-first axes (None = all per-example axes)."""
    if axis is None:
        return tuple(range(1, ndim + 1))
    if isinstance(axis, (list, tuple)):
        return tuple(sorted({pe_axis(a, ndim, op) for a in axis}))
    return (pe_axis(axis, ndim, op),)


def reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """Per-example shape left after reducing batch-first ``axes``."""
    return tuple(s for i, s in enumerate(shape) if i + 1 not in axes)


def source_index(out_index: tuple[int, ...], in_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Which element of a broadcast input fed output element ``out_index`` (per example)."""
    k = len(out_index) - len(in_shape)
    return tuple(0 if s == 1 else i for i, s in zip(out_index[k:], in_shape))


def as_number(x: Any) -> Any:
    """A NumPy scalar to a Python number (Fractions stay Fractions)."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, np.generic):
        return x.item()
    return x


def num(x: Any, digits: int) -> str:
    """Format a number for an arithmetic line, negative values in parentheses."""
    return fmt_paren(as_number(x), digits)


def plain(x: Any, digits: int) -> str:
    """Format a number without parentheses."""
    return fmt(as_number(x), digits)


def grad_label(target: str, node: str, index: tuple[int, ...] = ()) -> str:
    """``∂loss/∂a1[0]``."""
    return f"∂{target}/∂{node}{fmt_index(index)}"


OP_SYMBOLS = {"matmul": "@", "add": "+", "sub": "−", "mul": "×", "div": "/", "neg": "−", "pow": "^"}
"""How a backward title names an arithmetic op (``∂loss/∂W1 ← through @``); other ops by name."""


def backward_title(target: str, op_name: str, receivers: list[str]) -> str:
    """A backward step's title: the gradients it computes and the op it passes through.

    ``∂loss/∂z2 ← through sigmoid``; ``∂loss/∂w2, ∂loss/∂b2 ← through affine``. (Here, not in
    :mod:`nnlab.engine.explain`: every run titles its steps, and a run need not import explanations.)
    """
    through = f"through {OP_SYMBOLS.get(op_name, op_name)}"
    if not receivers:
        return f"∂{target}/∂… ← {through}"
    return ", ".join(grad_label(target, r) for r in receivers) + f" ← {through}"
