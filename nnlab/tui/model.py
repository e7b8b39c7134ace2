"""The lab's view of a run: what each step shows, asked of the engine and cached.

Why this module exists: the widgets must stay cheap to import (the first frame is
painted before NumPy is loaded) and cheap to repaint (a key press must repaint in a
few milliseconds even on an AlexNet-size convolution). So everything that touches
NumPy or the engine lives here, is imported inside the loading worker, and hands
the widgets small ready-made objects: :class:`Operand` (one tensor to draw, with the
padding frame already applied) and :class:`Focus` (which cells to highlight, and the
engine's explanation of the current element).

The model explains nothing itself. Elements, explanations, padding frames,
conventions and shape rules come from :mod:`nnlab.engine.explain` (through the
session, which also explains a training's update steps); the model picks the run a
step lives in, turns arrays into float64 for drawing and caches one view per
step × element × example × digits. It owns no position: the lab screen's ``step``
reactive (plus the element within the step) is the only state, and every method
here is a lookup keyed by it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from nnlab.engine import explain
from nnlab.engine.explain import Pads
from nnlab.engine.ops.base import grad_label
from nnlab.engine.run import Run, to_float
from nnlab.engine.trace import BACKWARD, FORWARD, Explanation, Step
from nnlab.engine.train import Training, TrainSteps
from nnlab.errors import NnlabError
from nnlab.numfmt import fmt
from nnlab.scenario.refs import Ref, RefKind
from nnlab.session import Session, open_session

if TYPE_CHECKING:
    from textual.cache import LRUCache

    from nnlab.check import CheckItem
    from nnlab.scenario.model import ExpectEntry

FOCUS_CACHE = 512
"""Explained elements kept (step × element × example × digits)."""
OPERAND_CACHE = 64
"""Steps whose drawable tensors are kept (step × example)."""
ARRAY_CACHE = 256
"""float64 copies of node values and gradients kept (training makes one run per update)."""


@dataclass
class Operand:
    """One tensor of a step, ready to draw.

    Attributes:
        slot: ``-1`` output, ``-2`` upstream gradient, ``k`` input ``k`` (forward: its
            value; backward: the gradient contribution this step adds to it).
        title: What to call it (``"X"``, ``"∂loss/∂X"``).
        role: ``"input"``, ``"output"``, ``"upstream"``, ``"grad"``.
        array: The per-example values as float64 (padded when ``pads`` is set).
        pads: Padding drawn around the last two axes, ``((top, bottom), (left, right))``.
        cursor: True if Up/Down move through this tensor's elements.
        note: A short remark for the header (``"padded by 1"``, ``"adds 1 of 2"``).
        node: The node the tensor belongs to.
    """

    slot: int
    title: str
    role: str
    array: np.ndarray
    pads: Pads | None = None
    cursor: bool = False
    note: str = ""
    node: str = ""
    _widths: dict[int, int] = field(default_factory=dict, repr=False)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the array as drawn (padded)."""
        return tuple(self.array.shape)

    def cell_width(self, digits: int) -> int:
        """Width of the widest formatted number (sampled for big tensors), cached per ``digits``."""
        w = self._widths.get(digits)
        if w is None:
            w = self._widths[digits] = _cell_width(self.array, digits)
        return w

    def is_pad(self, index: tuple[int, ...]) -> bool:
        """True if ``index`` (in the drawn frame) is a padding cell."""
        if not self.pads or len(index) < 2:
            return False
        (t, b), (l, r) = self.pads
        h, w = self.array.shape[-2:]
        i, j = index[-2:]
        return i < t or i >= h - b or j < l or j >= w - r


@dataclass
class Focus:
    """What the current element highlights.

    Attributes:
        slot: Slot of the current element (−1 the output of a forward step).
        index: Its index (per example, in the drawn frame of that slot).
        marks: ``slot -> {index: role}`` for every highlighted cell, in drawn frames.
        explanation: The engine's explanation, or None when it failed.
        error: Why explaining failed.
    """

    slot: int
    index: tuple[int, ...]
    marks: dict[int, dict[tuple[int, ...], str]]
    explanation: Explanation | None
    error: str = ""


@dataclass(frozen=True)
class Row:
    """One line of the graph pane: a group header or a step."""

    kind: str          # "header" | "step"
    text: str
    step: int = -1     # the step index for kind "step"
    shape: str = ""
    phase: str = ""
    sub: bool = False  # an unnamed sub-expression (drawn indented)
    level: int = 0     # header nesting: 0 epoch, 1 update, 2 phase


def shape_text(shape: tuple[int, ...]) -> str:
    """``(2, 3)`` -> ``"2×3"``, ``()`` -> ``"scalar"``."""
    return "×".join(str(s) for s in shape) if shape else "scalar"


def _cell_width(a: np.ndarray, digits: int) -> int:
    flat = a.reshape(-1)
    if flat.size == 0:
        return 1
    if flat.size > 4000:
        rng = np.random.default_rng(0)
        sample = list(flat[rng.integers(0, flat.size, 3000)])
        # big tensors: fit 99 % of the numbers; the rare long one (1.5e-05) is cut with "…"
        lengths = sorted(len(fmt(v, digits)) for v in sample)
        return lengths[int(0.99 * (len(lengths) - 1))]
    return max(len(fmt(v, digits)) for v in flat.tolist())


def _per_example(a: np.ndarray, example: int) -> np.ndarray:
    if a.ndim == 0:
        return a
    return a[example] if a.shape[0] > 1 else a[0]


class LabModel:
    """Everything the lab shows about one run, looked up by step and element.

    Args:
        session: A loaded session (scenario + run, or a training).
        path: The file it came from.
    """

    def __init__(self, session: Session, path: str = "") -> None:
        from textual.cache import LRUCache  # here: importing this module must not import Textual

        self.session = session
        self.run: Run = session.run
        self.scenario = session.scenario
        self.training: Training | None = session.training
        self.path = path
        self.steps: Sequence[Step] = session.steps
        self.epochs: list[int] = list(range(1, self.training.epochs + 1)) if self.training is not None else []
        self.rows = self._rows()
        self._row_of_step = {r.step: k for k, r in enumerate(self.rows) if r.kind == "step"}
        self._arrays: LRUCache[tuple[int | None, str, str], np.ndarray] = LRUCache(ARRAY_CACHE)
        self._operands: LRUCache[tuple[int, int], list[Operand]] = LRUCache(OPERAND_CACHE)
        self._focus: LRUCache[tuple[int, int, int, int], Focus] = LRUCache(FOCUS_CACHE)
        self._counts: LRUCache[int, int] = LRUCache(4 * FOCUS_CACHE)
        # the lab explains the next element ahead in a thread: one explanation is built at a time
        # (_building), and the caches (whose lookups reorder them) are touched under _caching, which
        # is never held while explaining, so a key press never waits for a prefetch to finish
        self._building = threading.RLock()
        self._caching = threading.Lock()
        self.cost: dict[int, float] = {}
        """Seconds the last explanation of an element of each step took."""

    # ------------------------------------------------------------------ overview
    @property
    def title(self) -> str:
        """The scenario's title."""
        return self.scenario.title

    @property
    def arithmetic(self) -> str:
        """``"exact"`` or ``"float64"``."""
        return self.run.arithmetic

    @property
    def examples(self) -> int:
        """Number of examples (1 without data)."""
        return self.run.batch if self.run.batch_axis else 1

    def examples_at(self, step: int) -> int:
        """Number of examples the run of ``step`` computes on (an update's batch in training)."""
        run, inner = self.context(step)
        if inner is None:
            return 1
        return run.batch if run.batch_axis else 1

    def data_examples(self, step: int) -> tuple[int, ...]:
        """Which examples of the data set the step's run uses (training), else ``()``."""
        st = self.steps[step]
        if self.training is None or st.update is None:
            return ()
        return tuple(self.training.records[st.update - 1].examples)

    def first_of_epoch(self, epoch: int) -> int | None:
        """Index of the first step of ``epoch`` (None if training ran no such epoch)."""
        if not isinstance(self.steps, TrainSteps) or epoch not in self.epochs:
            return None
        return self.steps.first_of_epoch(epoch)

    def context(self, step: int) -> tuple[Run, Step | None]:
        """``(run, inner step)`` a step lives in (for training: the update's own run; inner is None
        for an update step)."""
        st = self.steps[step]
        return self.session.run_for(st), self.session.inner_step(st)

    def _where(self, step: int) -> tuple[Run, Step]:
        """The run of ``step`` and the step as that run knows it (an update step stays itself)."""
        run, inner = self.context(step)
        return run, inner if inner is not None else self.steps[step]

    def check_entry(self, entry: ExpectEntry) -> CheckItem:
        """Check one (possibly edited) expect entry the way ``nnlab check`` does."""
        return self.session.check_entry(entry)

    def _rows(self) -> list[Row]:
        rows: list[Row] = []
        group: tuple = (object(), object(), object())
        for s in self.steps:
            key = (s.epoch, s.update, s.phase)
            if key != group:
                if s.epoch is not None and s.epoch != group[0]:
                    rows.append(Row("header", f"epoch {s.epoch}", level=0))
                if s.update is not None and (s.update != group[1] or s.epoch != group[0]):
                    rows.append(Row("header", f"update {s.update}", level=1))
                if s.update is None:  # in training the labels (z = …, ∂loss/∂…, w ← …) say the phase
                    rows.append(Row("header", s.phase, phase=s.phase, level=2))
                group = key
            sub = s.phase == FORWARD and self._temp(s.node)
            rows.append(Row("step", s.label, s.index, shape_text(tuple(s.shape)), s.phase, sub))
        return rows

    def _temp(self, node: str) -> bool:
        n = self.run.graph.nodes.get(node)
        return n is not None and n.is_temp

    def row_of_step(self, step: int) -> int:
        """The graph-pane row showing ``step``."""
        return self._row_of_step.get(step, 0)

    def find_step(self, phase: str, node: str) -> int | None:
        """The index of the step with this phase and node (for keeping place on reload)."""
        for s in self.steps:
            if s.phase == phase and s.node == node:
                return s.index
        return None

    def nearest_step(self, old: Step | None, old_index: int) -> int:
        """Where to land after a reload: the same (phase, node, epoch), else the nearest index."""
        if old is not None:
            for s in self.steps:
                if (s.phase, s.node, s.epoch, s.update) == (old.phase, old.node, old.epoch, old.update):
                    return s.index
        return max(0, min(old_index, len(self.steps) - 1))

    def step_for_name(self, name: str) -> int | None:
        """A step for a name typed by the user: ``z1``, ``∂loss/∂z1``, ``grad(z1)``, a label or a number."""
        text = name.strip()
        if not text:
            return None
        if text.isdigit():
            k = int(text) - 1
            return k if 0 <= k < len(self.steps) else None
        phase = FORWARD
        if text.startswith("grad(") and text.endswith(")"):
            text, phase = text[5:-1].strip(), BACKWARD
        elif text.startswith("∂") and "/∂" in text:
            text, phase = text.split("/∂", 1)[1], BACKWARD
        for s in self.steps:
            if s.phase == phase and s.node == text:
                return s.index
        for s in self.steps:
            if s.label == name.strip():
                return s.index
        if phase == BACKWARD:  # grad(x) of a leaf: the first backward step that feeds it
            for s in self.steps:
                if s.phase == BACKWARD and text in s.inputs:
                    return s.index
        for s in self.steps:  # the step that computes it in any phase
            if s.node == text:
                return s.index
        return None

    # ------------------------------------------------------------------ elements
    def element_count(self, step: int) -> int:
        """How many elements Up/Down move through in ``step`` (at least one: there is always a cursor)."""
        with self._caching:
            n = self._counts.get(step)
        if n is None:
            n = max(1, explain.element_count(*self._where(step)))
            with self._caching:
                self._counts.set(step, n)
        return n

    def element_at(self, step: int, k: int) -> tuple[int, tuple[int, ...]]:
        """``(slot, index)`` of element ``k`` of ``step`` (``(-1, ())`` for a step without elements)."""
        try:
            return explain.element_at(*self._where(step), k)
        except IndexError:
            return -1, ()

    def element_number(self, step: int, slot: int, index: tuple[int, ...]) -> int | None:
        """Element number of ``(slot, index)`` in ``step`` (None if it is not an element there)."""
        return explain.element_number(*self._where(step), slot, index)

    # ------------------------------------------------------------------ operands
    def _array(self, update: int | None, run: Run, nid: str, kind: str = "value") -> np.ndarray | None:
        """Node ``nid``'s value, gradient or (``"slot:k"``) contribution in ``run`` as float64, cached.

        ``update`` names the run: None for the session's run, else the training update it recomputes.
        """
        key = (update, nid, kind)
        with self._caching:
            a = self._arrays.get(key)
        if a is None:
            if kind == "value":
                src = run.values.get(nid)
            elif kind == "grad":
                src = run.grads.get(nid)
            else:
                src = run.contributions.get((nid, int(kind.removeprefix("slot:"))))
            if src is None:
                return None
            a = to_float(src)
            with self._caching:
                self._arrays.set(key, a)
        return a

    def display(self, nid: str) -> str:
        """How the engine names a node in formulas."""
        return self.run.graph.display(nid)

    def operands(self, step: int, example: int = 0) -> list[Operand]:
        """The tensors a step shows: inputs then output (forward); upstream then gradients (backward)."""
        key = (step, example)
        with self._caching:
            ops = self._operands.get(key)
        if ops is None:
            ops = self._build_operands(step, example)
            with self._caching:
                self._operands.set(key, ops)
        return ops

    def _build_operands(self, step: int, example: int) -> list[Operand]:
        run, st = self.context(step)
        update = self.steps[step].update
        if st is None:
            return self._update_operands(self.steps[step])
        out: list[Operand] = []
        if st.phase == FORWARD:
            pads = explain.pads(run, st, example)
            for slot, nid in enumerate(st.inputs):
                a = self._array(update, run, nid) if nid else None
                if a is None:
                    continue
                a = _per_example(a, example)
                p = pads.get(slot) if a.ndim >= 2 else None
                if p is not None:
                    a = np.pad(a, [(0, 0)] * (a.ndim - 2) + [p[0], p[1]])
                out.append(Operand(slot, self.display(nid), "input", a, p, note=explain.pad_note(p) if p else "",
                                   node=nid))
            val = self._array(update, run, st.node)
            if val is not None:
                out.append(Operand(-1, self.display(st.node), "output", _per_example(val, example),
                                   cursor=True, node=st.node))
            return out
        target = run.target or "loss"
        g = self._array(update, run, st.node, "grad")
        if g is not None:
            out.append(Operand(-2, grad_label(target, self.display(st.node)), "upstream",
                               _per_example(g, example), note="upstream", node=st.node))
        for slot, _shape in explain.element_spaces(run, st):
            nid = st.inputs[slot]
            c = self._array(update, run, st.node, f"slot:{slot}")
            if c is None:
                continue
            k, n = st.accumulates[slot] if slot < len(st.accumulates) else (1, 1)
            out.append(Operand(slot, grad_label(target, self.display(nid)), "grad", _per_example(c, example),
                               cursor=True, note=f"adds {k} of {n}" if n > 1 else "", node=nid))
        return out

    def _update_operands(self, st: Step) -> list[Operand]:
        """An update step: the parameter before, its gradient (gd), and after."""
        tr = self.training
        if tr is None or st.update is None:
            return []
        p, u = st.node, st.update
        before = to_float(tr.snapshots[u - 1][p])[0]
        after = to_float(tr.snapshots[u][p])[0]
        note = f"update {u} · epoch {st.epoch}"
        out = [Operand(0, f"{p} before", "input", before, note=note, node=p)]
        if tr.config.rule == "gd" and tr.config.loss is not None:
            g = tr.update_run(u).grads.get(p)
            if g is not None:
                out.append(Operand(1, grad_label(tr.config.loss, p), "input", to_float(g)[0],
                                   note="mean over the batch", node=p))
        out.append(Operand(-1, f"{p} after", "output", after, cursor=True, node=p))
        return out

    # ------------------------------------------------------------------ focus
    def cheap(self, step: int) -> bool:
        """True if explaining an element of ``step`` is fast enough to do during a key press."""
        return explain.quick(*self._where(step))

    def cached_focus(self, step: int, k: int, example: int = 0, digits: int = 4) -> Focus | None:
        """The focus if it was computed already (or is cheap to compute now)."""
        if self.has_focus(step, k, example, digits) or self.cheap(step):
            return self.focus(step, k, example, digits)
        return None

    def pending_focus(self, step: int, k: int) -> Focus:
        """A stand-in while a slow explanation is computed: the element only."""
        slot, index = self.element_at(step, k)
        return Focus(slot, index, {slot: {index: "current"}}, None,
                     "explaining… (a large tensor: computing in the background)")

    def focus(self, step: int, k: int, example: int = 0, digits: int = 4) -> Focus:
        """The current element ``k`` of ``step``: its explanation and the cells to highlight."""
        key = (step, k, example, digits)
        with self._caching:
            f = self._focus.get(key)
        if f is not None:
            return f
        with self._building:
            with self._caching:
                f = self._focus.get(key)
            if f is not None:  # explained by the other thread meanwhile
                return f
            t = time.perf_counter()
            f = self._build_focus(step, k, example, digits)
            self.cost[step] = time.perf_counter() - t
            with self._caching:
                self._focus.set(key, f)
            return f

    def has_focus(self, step: int, k: int, example: int = 0, digits: int = 4) -> bool:
        """True if that element's explanation is cached."""
        with self._caching:
            return (step, k, example, digits) in self._focus

    def _build_focus(self, step: int, k: int, example: int, digits: int) -> Focus:
        slot, index = self.element_at(step, k)
        marks: dict[int, dict[tuple[int, ...], str]] = {}
        try:
            ex = self.session.explain(self.steps[step], index, slot=None if slot < 0 else slot, example=example,
                                      digits=digits)
        except NnlabError as exc:  # shown in the math pane
            return Focus(slot, index, {slot: {index: "current"}}, None, exc.message)
        except ArithmeticError as exc:  # exact arithmetic on the user's numbers
            return Focus(slot, index, {slot: {index: "current"}}, None, f"{type(exc).__name__}: {exc}")
        for use in ex.uses:
            if use.slot == slot and tuple(use.index) == index:
                continue
            marks.setdefault(use.slot, {})[tuple(use.index)] = use.role
        marks.setdefault(slot, {})[index] = "current"
        return Focus(slot, index, marks, ex)

    def chain_text(self, step: int, k: int, example: int = 0, digits: int = 4) -> str:
        """The symbolic chain rule (sympy) for the gradient element ``k`` of a backward step.

        Slow the first time (imports sympy, builds the expressions): call it from a worker.

        Raises:
            NnlabError: Not a backward step, an unnamed sub-expression, or no symbolic form.
        """
        run, inner = self.context(step)
        if inner is None or inner.phase != BACKWARD:
            raise NnlabError("the symbolic chain is for gradients: go to a backward step (n)")
        slot, index = self.element_at(step, k)
        name = inner.inputs[slot] if 0 <= slot < len(inner.inputs) else ""
        if not name or not run.graph.nodes[name].visible:
            raise NnlabError(f"{self.display(name) if name else 'this input'} is a sub-expression without a "
                             "name; the chain is written for named nodes (its line's name)")
        # sympy is imported only now, once there is a chain to show
        from nnlab.symbolic.chain import chain_for, format_chain

        full = (example,) + index if run.graph.nodes[name].batched and run.batch_axis else index
        return format_chain(chain_for(run, Ref(RefKind.GRAD, name, full)), digits)

    # ------------------------------------------------------------------ text
    def conventions(self, step: int) -> str:
        """The conventions in force at ``step`` (training rule, padding per side or total, stride…)."""
        run, inner = self.context(step)
        return explain.conventions(run, inner, self.training.config if self.training is not None else None)

    def step_shape_rule(self, step: int) -> str:
        """The op's output-shape rule with numbers (conv/pool), else ``""``."""
        run, inner = self.context(step)
        return explain.shape_rule(run, inner) if inner is not None else ""


def load_model(path: str) -> LabModel:
    """Load and run a scenario file into a :class:`LabModel` (called in a worker thread)."""
    session = open_session(path)
    return LabModel(session, os.path.abspath(path))
