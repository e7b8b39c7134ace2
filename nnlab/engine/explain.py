"""Explaining a run: what Up/Down move through in a step, and how one element was computed.

Why a module of its own: an explanation is data the engine makes (the op that knows
the math writes the rule and the arithmetic; :class:`~nnlab.engine.trace.Explanation`
carries it), and every view — ``nnlab explain``, the console dump, the lab — asks
here. So an element is explained in the same words everywhere and no view glues
formulas together itself. The lab only draws what these functions return.

Everything here is a function of a finished :class:`~nnlab.engine.run.Run` and one
of its :class:`~nnlab.engine.trace.Step` records; nothing is stored. Backward
elements follow the chain rule the run applied, term by term:
``∂T/∂x[i] = Σₒ ∂T/∂y[o] · ∂y[o]/∂x[i]`` over the outputs ``o`` that depend on ``x[i]``
(the op says which, :meth:`~nnlab.engine.ops.base.Op.dependents`), summed over the
examples when ``x`` is shared by all of them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from nnlab.engine.graph import NodeKind
from nnlab.engine.ops.base import OP_SYMBOLS, Op, as_number, backward_title, grad_label, num  # (titles: with the run)
from nnlab.engine.ops.elementwise import Unary
from nnlab.engine.trace import BACKWARD, FORWARD, Explanation, Step, Use
from nnlab.errors import NnlabError
from nnlab.numfmt import fmt, fmt_index

if TYPE_CHECKING:
    from nnlab.engine.run import Run
    from nnlab.engine.train import TrainConfig

MAX_TERMS = 24
"""Longest sum written out in an explanation."""
QUICK_ELEMENTS = 20_000
"""Steps whose inputs and output hold at most this many elements are explained at once."""
LOCAL_OPS = frozenset({"conv2d", "maxpool2d", "avgpool2d", "index", "reshape", "flatten", "transpose"})
"""Forward ops whose explanation looks at a window or one element, whatever the size."""

Pads = tuple[tuple[int, int], tuple[int, int]]
"""Padding around the last two axes: ``((top, bottom), (left, right))``."""


# ---------------------------------------------------------------------- elements


LABEL_SLOT_OPS = frozenset({"bce", "bce_logits", "mse", "cross_entropy"})
"""Losses whose second input is the label (the answer the prediction is compared with)."""
_GRAD_REF = re.compile(r"grad\(\s*([^()\s]+)\s*\)")


def asked_grads(scenario: Any) -> frozenset[str]:
    """The names whose gradient the scenario's ``expect:`` block asks for (``grad(x)`` …)."""
    return frozenset(m.group(1) for e in scenario.expect for m in _GRAD_REF.finditer(e.ref))


def hidden_gradient(run: Run, step: Step, slot: int) -> bool:
    """True if the gradient this backward step sends into input ``slot`` is one a student
    does not learn from: w.r.t. input data, a label or a constant.

    Learnable parameters (``learn:``) and computed nodes are always shown, and so is any
    gradient the ``expect:`` block asks for. Without ``learn:``, the ``values:`` are the
    unknowns of the exercise and are shown too, except a loss's label.
    """
    nid = step.inputs[slot] if 0 <= slot < len(step.inputs) else ""
    if not nid:
        return True
    node = run.graph.nodes[nid]
    if node.kind == NodeKind.OP:
        return False
    if node.kind == NodeKind.CONST:
        return True
    learn = set(run.scenario.learn)
    if nid in learn or nid.split(".")[0] in learn or nid in asked_grads(run.scenario):
        return False
    if learn or node.kind == NodeKind.DATA:
        return True
    return step.op in LABEL_SLOT_OPS and slot == 1


def element_spaces(run: Run, step: Step, hide: bool = False) -> list[tuple[int, tuple[int, ...]]]:
    """What Up/Down move through in ``step``: ``(slot, shape)`` pairs (slot −1 = the output).

    A forward step moves through its output, a backward step through the gradient
    contribution into each input that receives one (not a constant, not the class
    labels of a loss; with ``hide``, not data or labels either — see
    :func:`hidden_gradient` — unless nothing else is left), an update step (training)
    through the parameter it changes.
    """
    nodes = run.graph.nodes
    if step.phase == BACKWARD:
        spaces = [(k, nodes[i].shape) for k, i in enumerate(step.inputs)
                  if i and nodes[i].kind != NodeKind.CONST and (step.node, k) in run.contributions]
        if hide:
            shown = [(k, shape) for k, shape in spaces if not hidden_gradient(run, step, k)]
            return shown or spaces
        return spaces
    if step.phase == FORWARD:
        return [(-1, nodes[step.node].shape)]
    return [(-1, tuple(step.shape))]


def step_title(run: Run, step: Step, hide: bool = False) -> str:
    """What a step is called in a list of steps; backward steps by :func:`backward_title`,
    without the gradients :func:`hidden_gradient` hides when ``hide`` (unless none is left)."""
    if step.phase != BACKWARD:
        return step.label
    slots = [k for k, _ in element_spaces(run, step, hide)]
    names = [run.graph.display(step.inputs[k]) for k in slots]
    return backward_title(run.target or "loss", step.op, names)


def target_note(run: Run) -> str:
    """For a backward target that is not one number: ``"of sum(C)"`` (the seed is 1 for every
    element of C, so every gradient is that of the sum of C's elements); else ``""``."""
    t = run.target
    if t is None or not run.graph.nodes[t].shape:
        return ""
    return f"of sum({run.graph.display(t)})"


def element_count(run: Run, step: Step, hide: bool = False) -> int:
    """How many elements Up/Down move through in ``step``."""
    return sum(int(np.prod(shape)) for _, shape in element_spaces(run, step, hide))


def element_at(run: Run, step: Step, k: int, hide: bool = False) -> tuple[int, tuple[int, ...]]:
    """The ``k``-th element of ``step`` as ``(slot, index)`` (slot −1 = the output).

    Raises:
        IndexError: ``k`` is not below :func:`element_count`.
    """
    if k >= 0:
        for slot, shape in element_spaces(run, step, hide):
            n = int(np.prod(shape))
            if k < n:
                return slot, tuple(int(i) for i in np.unravel_index(k, shape)) if shape else ()
            k -= n
    raise IndexError(k)


def element_number(run: Run, step: Step, slot: int, index: tuple[int, ...], hide: bool = False) -> int | None:
    """Inverse of :func:`element_at`; None if ``(slot, index)`` is not an element of ``step``."""
    k = 0
    for s, shape in element_spaces(run, step, hide):
        if s == slot:
            if len(index) != len(shape) or any(not 0 <= i < d for i, d in zip(index, shape)):
                return None
            return k + (int(np.ravel_multi_index(index, shape)) if shape else 0)
        k += int(np.prod(shape))
    return None


def default_slot(run: Run, step: Step) -> int:
    """The input a backward step explains first: a learnable parameter, else a computed node."""
    spaces = [k for k, _ in element_spaces(run, step)]
    if not spaces:
        return 0
    learn = set(run.scenario.learn)

    def rank(k: int) -> int:
        node = run.graph.nodes[step.inputs[k]]
        if node.id in learn or node.id.split(".")[0] in learn:
            return 0
        return {NodeKind.OP: 1, NodeKind.VALUE: 2, NodeKind.DATA: 3}.get(node.kind, 4)

    return min(spaces, key=lambda k: (rank(k), k))


def quick(run: Run, step: Step) -> bool:
    """True if explaining an element of ``step`` takes about a millisecond, whatever the element.

    Small steps are quick; so are large ones whose op looks at a window or one element
    (conv, pooling, indexing, elementwise functions) or says which outputs an input
    feeds. Others (a sum over 90,000 elements) can take longer: a view should ask in
    the background.
    """
    if step.phase not in (FORWARD, BACKWARD):
        return True
    size = sum(_size(run, i) for i in step.inputs if i) + _size(run, step.node)
    if size <= QUICK_ELEMENTS:
        return True
    op = run.op(step.node)
    if isinstance(op, Unary):
        return True
    if step.phase == FORWARD:
        return step.op in LOCAL_OPS
    return _declares_dependents(op) or _size(run, step.node) > QUICK_ELEMENTS


# -------------------------------------------------------------------- explaining


def explain(run: Run, step: Step | int, element: tuple[int, ...] | None = None, *, slot: int | None = None,
            example: int = 0, digits: int = 4) -> Explanation:
    """Explain one element of a step of ``run``.

    Args:
        run: The run.
        step: One of its steps (or the step's index).
        element: Per-example index; defaults to the first element.
        slot: Backward steps: which input's gradient (default: :func:`default_slot`).
        example: Which example, when the run has data.
        digits: Decimal places in the arithmetic.
    """
    if isinstance(step, int):
        step = run.steps[step]
    if step.phase == FORWARD:
        return _explain_forward(run, step, element, example, digits)
    if slot is None:
        slot = default_slot(run, step)
    return _explain_backward(run, step, slot, element, example, digits)


def example_value(run: Run, nid: str, example: int) -> np.ndarray:
    """Node ``nid``'s per-example array for ``example`` (shared values: their only row)."""
    a = run.values[nid]
    return np.asarray(a[example] if a.shape[0] > 1 else a[0], dtype=a.dtype)


def _explain_forward(run: Run, step: Step, element: tuple[int, ...] | None, example: int,
                     digits: int) -> Explanation:
    node = run.graph.nodes[step.node]
    element = tuple(element) if element is not None else (0,) * len(node.shape)
    op = run.op(step.node)
    if op.across_examples:  # batch statistics: the op reads every example
        xs = [None if not i else run.values[i] for i in step.inputs]
    else:
        xs = [None if not i else example_value(run, i, example) for i in step.inputs]
    names = [run.graph.display(i) if i else "None" for i in step.inputs]
    out = example_value(run, step.node, example)
    ex = op.explain(element, xs, out, names, run.graph.display(step.node), digits)
    return ex._replace(arithmetic=elide_sum(ex.arithmetic))


def _top_level(text: str, sep: str = " + ") -> list[str]:
    """``text`` split at ``sep`` outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
    parts.append(text[start:])
    return parts


def _group(part: str) -> list[str] | None:
    """The terms of a parenthesized sum ``(a + b + c)`` (one channel of a convolution), else None."""
    if not (part.startswith("(") and part.endswith(")")):
        return None
    depth = 0
    for i, ch in enumerate(part):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and i < len(part) - 1:
            return None  # "(a)×(b)": two groups, not one
    inner = _top_level(part[1:-1])
    return inner if len(inner) > 1 else None


def elide_sum(arithmetic: str) -> str:
    """A forward element's sum with more than :data:`MAX_TERMS` terms written as its first ones
    and ``… (N more terms)``, as a large reduction writes it (a convolution of AlexNet's first
    layer sums 363 products; written out they fill the math pane and take a frame to lay out).

    Terms are the ``+``-separated parts; a parenthesized sum (one input channel) counts its
    terms, and the cut closes the group it falls in. Anything else (a quotient, one product)
    is returned as it is.
    """
    if arithmetic.count(" + ") < MAX_TERMS:
        return arithmetic
    parts = _top_level(arithmetic)
    groups = [_group(p) for p in parts]
    total = sum(len(g) if g else 1 for g in groups)
    if total <= MAX_TERMS:
        return arithmetic
    keep, shown = MAX_TERMS // 2, []
    for part, group in zip(parts, groups):
        room = keep - sum(len(g) for _, g in shown)
        if room <= 0:
            break
        shown.append((part, group[:room] if group else [part]))
    text = " + ".join(f"({' + '.join(g)})" if full is not None and len(g) > 1 else " + ".join(g)
                      for (_, g), full in zip(shown, groups))
    return f"{text} + … ({total - keep} more terms)"


def _explain_backward(run: Run, step: Step, slot: int, element: tuple[int, ...] | None, example: int,
                      digits: int) -> Explanation:
    node = run.graph.nodes[step.node]
    inp_id = step.inputs[slot]
    inp = run.graph.nodes[inp_id]
    element = tuple(element) if element is not None else (0,) * len(inp.shape)
    if (step.node, slot) not in run.contributions:
        raise NnlabError(f"no gradient flows into {run.graph.display(inp_id)} at this step",
                         hint="constants and class labels get no gradient.")
    op = run.op(step.node)
    g = run.grads[step.node]
    deps = op.dependents(slot, element, node.shape)
    if deps is None and _size(run, step.node) > QUICK_ELEMENTS:
        return _explain_backward_summed(run, step, slot, element, example, digits)
    if deps is None:
        deps = list(np.ndindex(*node.shape)) if node.shape else [()]
    in_batched = run.values[inp_id].shape[0] > 1
    out_batched = g.shape[0] > 1
    examples = [example] if (in_batched or not out_batched) else range(g.shape[0])
    T = run.target
    out_name, in_name = run.graph.display(step.node), run.graph.display(inp_id)
    terms: list[str] = []
    uses: list[Use] = []
    count = 0
    for ex in examples:
        e_in = ex if in_batched else 0
        e_out = ex if out_batched else 0
        for o in deps:
            local = op.local(slot, (e_out,) + tuple(o), (e_in,) + element)
            if local == 0:
                continue
            count += 1
            if len(terms) < MAX_TERMS:
                terms.append(f"{num(g[(e_out,) + tuple(o)], digits)}·{num(local, digits)}")
                if ex == example:
                    uses.append(Use(-2, tuple(o)))
    value = run.contributions[(step.node, slot)][((example if in_batched else 0),) + element]
    if count > MAX_TERMS:
        terms.append(f"… ({count} terms)")
    lhs = grad_label(T, in_name, element)
    one = len(deps) == 1 and len(examples) == 1
    o_text = fmt_index(tuple(deps[0])) if one else "[o]"
    formula = (f"{lhs} = ∂{T}/∂{out_name}{o_text} · ∂{out_name}{o_text}/∂{in_name}{fmt_index(element)}")
    if not one:
        formula = f"{lhs} = Σₒ ∂{T}/∂{out_name}[o] · ∂{out_name}[o]/∂{in_name}{fmt_index(element)}"
        if len(examples) > 1:
            formula += f"  (summed over {len(examples)} examples)"
    derivative = derivative_text(op, out_name, in_name)
    if derivative:
        formula += f"   where ∂{out_name}/∂{in_name} = {derivative}"
    arithmetic = " + ".join(terms) if terms else "0"
    note = _accumulation_note(run, step, slot, element, example, digits)
    return Explanation(lhs, formula, arithmetic, value, tuple(uses) + (Use(slot, element),), note=note)


def _explain_backward_summed(run: Run, step: Step, slot: int, element: tuple[int, ...], example: int,
                             digits: int) -> Explanation:
    """An op that does not say which outputs an input feeds, with a large output: asking
    each output element for its local derivative would take minutes, so the element
    gets the rule and the value the run recorded."""
    inp_id = step.inputs[slot]
    in_batched = run.values[inp_id].shape[0] > 1
    out_name, in_name = run.graph.display(step.node), run.graph.display(inp_id)
    lhs = grad_label(run.target, in_name, element)
    formula = f"{lhs} = Σₒ ∂{run.target}/∂{out_name}[o] · ∂{out_name}[o]/∂{in_name}{fmt_index(element)}"
    value = run.contributions[(step.node, slot)][((example if in_batched else 0),) + element]
    n = int(np.prod(run.graph.nodes[step.node].shape))
    note = f"the sum runs over the {n} elements of {out_name}: too many terms to write out"
    more = _accumulation_note(run, step, slot, element, example, digits)
    return Explanation(lhs, formula, "", value, (Use(slot, element),), note=f"{note}; {more}" if more else note)


def _accumulation_note(run: Run, step: Step, slot: int, element: tuple[int, ...], example: int,
                       digits: int) -> str:
    """For an input used more than once: which contribution this step adds, and the total."""
    k, n = step.accumulates[slot] if slot < len(step.accumulates) else (1, 1)
    if n <= 1:
        return ""
    inp_id = step.inputs[slot]
    in_name = run.graph.display(inp_id)
    in_batched = run.values[inp_id].shape[0] > 1
    total = run.grads[inp_id][((example if in_batched else 0),) + element]
    return (f"{in_name} is used {n} times: this step adds contribution {k} of {n}; "
            f"the total ∂{run.target}/∂{in_name}{fmt_index(element)} = {fmt(as_number(total), digits)}")


def derivative_text(op: Op, out_name: str, in_name: str) -> str:
    """An elementwise op's derivative written with this step's names (``1 − a1²``), else ``""``.

    Ops write it in ``x`` (the input) and ``y`` (the output); a letter followed by a
    superscript (``y²``) is still that variable, although Python counts ``²`` as a word
    character.
    """
    if not op.derivative:
        return ""
    with_x = re.sub(r"(?<![\w.])x(?![A-Za-z0-9_])", in_name, op.derivative)
    return re.sub(r"(?<![\w.])y(?![A-Za-z0-9_])", out_name, with_x)


def _declares_dependents(op: Op) -> bool:
    return type(op).dependents is not Op.dependents


def _size(run: Run, nid: str) -> int:
    a = run.values.get(nid)
    return int(a.size) if a is not None else 0


# ------------------------------------------------------------ what a step shows


def pads(run: Run, step: Step, example: int = 0) -> dict[int, Pads]:
    """The padding drawn around each input of a forward step (only inputs that are padded).

    Conv and pooling explain elements in the padded frame of their input; this is
    that frame, as their explanations report it.
    """
    if step.phase != FORWARD or not any(p.name.startswith("padding") for p in run.op(step.node).signature):
        return {}
    ex = explain(run, step, None, example=example)
    return {s: (tuple(p[0]), tuple(p[1])) for s, p in ex.pads if any(v for pair in p for v in pair)}


def pad_note(p: Pads) -> str:
    """``"padded by 1"``, or per side: ``"padded 1,0 rows · 1,0 cols"``."""
    (t, b), (l, r) = p
    if t == b == l == r:
        return f"padded by {t}"
    return f"padded {t},{b} rows · {l},{r} cols"


def conventions(run: Run, step: Step | None, training: TrainConfig | None = None) -> str:
    """The conventions in force at ``step``: the training rule and rate, padding (per side
    or total), stride, window size, variant, axis, and that convolution does not flip.

    Args:
        run: The run the step belongs to.
        step: A forward or backward step of ``run``; None for a training's update step.
        training: The training configuration, if the step is part of a training.
    """
    parts = []
    if training is not None:
        parts.append(f"{training.rule} η={_setting(training.lr)}")
        parts += [f"{sym}={_setting(getattr(training, key))}" for sym, key in
                  (("μ", "momentum"), ("λ", "weight_decay")) if getattr(training, key, 0)]
        if getattr(training, "update", "error") == "label":
            parts.append("update on y·z ≤ 0")
    if step is None:
        return " · ".join(parts)
    params = dict(run.op(step.node).params)
    if params.get("padding_total") is not None:
        parts.append(f"padding {_setting(params['padding_total'])} total")
    elif params.get("padding"):
        parts.append(f"padding {_setting(params['padding'])} per side")
    for k in ("stride", "size", "variant", "axis"):
        if params.get(k) is not None:
            parts.append(f"{k} {_setting(params[k])}")
    if step.op == "conv2d":
        parts.append("no kernel flip")
    return " · ".join(parts)


def shape_rule(run: Run, step: Step) -> str:
    """A forward step's output-shape rule with its numbers (conv, pooling), else ``""``.

    ``OH = ⌊(H + 2p − kh)/s⌋ + 1 = ⌊(3 + 2·1 − 2)/3⌋ + 1 = 2`` is shown as the name and
    the numbers only: ``OH = ⌊(3 + 2·1 − 2)/3⌋ + 1 = 2``.
    """
    if step.phase != FORWARD:
        return ""
    shapes = [run.graph.nodes[i].shape if i else None for i in step.inputs]
    rule = run.op(step.node).shape_rule(*shapes)
    return "; ".join(_numeric_rule(part) for part in rule.split("; ")) if rule else ""


def _numeric_rule(part: str) -> str:
    pieces = part.split(" = ")
    if len(pieces) >= 4:
        return " = ".join([pieces[0]] + pieces[2:])
    return part


def _setting(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(str(x) for x in v) + "]"
    return str(v)


__all__ = [
    "LABEL_SLOT_OPS",
    "LOCAL_OPS",
    "MAX_TERMS",
    "OP_SYMBOLS",
    "QUICK_ELEMENTS",
    "Pads",
    "asked_grads",
    "backward_title",
    "conventions",
    "default_slot",
    "derivative_text",
    "element_at",
    "element_count",
    "element_number",
    "element_spaces",
    "elide_sum",
    "example_value",
    "explain",
    "hidden_gradient",
    "pad_note",
    "pads",
    "quick",
    "shape_rule",
    "step_title",
    "target_note",
]
