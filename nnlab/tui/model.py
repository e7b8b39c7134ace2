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
from collections.abc import Callable, Sequence
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
from nnlab.scenario.expr import Name
from nnlab.scenario.refs import Ref, RefKind
from nnlab.session import Session, open_session
from nnlab.tui.marks import Marks

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
        marks: ``slot -> {index: role}`` for every highlighted cell, in drawn frames (a
            :class:`Marks`, whose ``boxes`` hold large blocks of cells as one record each).
        explanation: The engine's explanation, or None when it failed.
        error: Why explaining failed.
    """

    slot: int
    index: tuple[int, ...]
    marks: dict[int, Marks]
    explanation: Explanation | None
    error: str = ""


@dataclass(frozen=True)
class Row:
    """One line of the graph pane: a group header or a step."""

    kind: str          # "header" | "step" | "failed" (the line a scenario meant to fail stops at)
    text: str
    step: int = -1     # the step index for kind "step"
    shape: str = ""
    phase: str = ""
    sub: bool = False  # an unnamed sub-expression (drawn indented)
    level: int = 0     # header nesting: 0 epoch, 1 update, 2 phase


class ListRows(list):
    """The graph pane's rows of a run, all made at load (a run has at most a few hundred steps)."""

    def __init__(self, rows: list[Row]) -> None:
        super().__init__(rows)
        self._row_of = {r.step: k for k, r in enumerate(rows) if r.kind != "header"}
        self.width = max((len(r.text) + len(r.shape) + 6 for r in rows), default=10)

    def row_of_step(self, step: int) -> int:
        """The row showing ``step``."""
        return self._row_of.get(step, 0)


class TrainRows(Sequence):
    """The graph pane's rows of a training, made on demand.

    Every update shows the same rows (an ``update`` header, then the steps of one
    update), and an ``epoch`` header comes before the first update of each epoch; so
    row ``k`` is found by a binary search over the first row of each update, and a
    10,000-epoch training needs two integer arrays instead of 150,000 row objects.
    """

    def __init__(self, steps: TrainSteps, training: Training, titles: list[Row]) -> None:
        self.steps, self.training, self.titles = steps, training, titles
        self.group = steps.group
        n = len(training.records)
        ends = np.asarray(training.epoch_end, dtype=np.int64)
        # the updates that begin an epoch (an epoch header comes before each)
        self._epoch_starts = ends[:-1][np.diff(ends) > 0]
        per = np.arange(n, dtype=np.int64)
        self._start = per * (self.group + 1) + np.searchsorted(self._epoch_starts, per, "left")
        self._n = int(self._start[-1]) + self.group + 1 + int(self._begins(n - 1)) if n else 0
        self.width = max((len(r.text) + len(r.shape) + 6 for r in titles), default=10) + 2

    def _begins(self, u: int) -> bool:
        i = int(np.searchsorted(self._epoch_starts, u, "left"))
        return i < len(self._epoch_starts) and int(self._epoch_starts[i]) == u

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, k):  # type: ignore[override]
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        if k < 0:
            k += self._n
        if not 0 <= k < self._n:
            raise IndexError(k)
        u = int(np.searchsorted(self._start, k, "right")) - 1
        off = k - int(self._start[u])
        rec = self.training.records[u]
        if self._begins(u):
            if off == 0:
                return Row("header", f"epoch {rec.epoch}", level=0)
            off -= 1
        if off == 0:
            return Row("header", f"update {rec.number}", level=1)
        t = self.titles[off - 1]
        return Row("step", t.text, u * self.group + off - 1, t.shape, t.phase, t.sub)

    def row_of_step(self, step: int) -> int:
        """The row showing ``step``."""
        u, off = divmod(step, self.group)
        if not 0 <= u < len(self._start):
            return 0
        return int(self._start[u]) + int(self._begins(u)) + 1 + off


Rows = ListRows | TrainRows


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
        self.show_hidden = False
        """Show gradients w.r.t. data, labels and constants too (hidden by default)."""
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
        self._plot_kinds: list[str] | None = None
        self._epoch_rows: list[tuple[int, float | int]] | None = None
        self.failure: NnlabError | None = session.failure
        """The error a scenario meant to fail stopped with (its steps are those of the lines before)."""
        self.failure_step: int | None = len(self.steps) if self.failure is not None else None
        """The index of the failed line's row, one past the last step (None when the run did not fail)."""
        self.rows: Rows = self._rows()

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

    @property
    def max_examples(self) -> int:
        """The most examples any step computes on (``e`` has nothing to do when it is 1)."""
        if self.training is not None:
            return max((len(self.training.records[u].examples) for u in (0, -1)), default=1) \
                if len(self.training.records) else 1
        return self.examples

    @property
    def has_backward(self) -> bool:
        """True if the run (or each training update) has backward steps."""
        return any(r.phase == BACKWARD for r in self._one_group())

    @property
    def has_hidden(self) -> bool:
        """True if some backward step computes a gradient w.r.t. data, a label or a constant."""
        run = self.run if self.training is None else self.session.run_for(self.steps[0])
        inner = run.steps
        return any(s.phase == BACKWARD and any(explain.hidden_gradient(run, s, k)
                                               for k, _ in explain.element_spaces(run, s)) for s in inner)

    @property
    def target_note(self) -> str:
        """``"of sum(C)"`` for a backward target that is not one number, else ``""``."""
        run = self.run if self.training is None else self.session.run_for(self.steps[0])
        return explain.target_note(run) if run.target else ""

    def _one_group(self) -> Sequence[Row]:
        return self.rows.titles if isinstance(self.rows, TrainRows) else self.rows

    @property
    def plot_kinds(self) -> list[str]:
        """The plots that apply here (:func:`nnlab.render.plots.kinds`), worked out once."""
        if self._plot_kinds is None:
            from nnlab.render.plots import kinds

            self._plot_kinds = kinds(self.session)
        return self._plot_kinds

    def epoch_rows(self) -> tuple[list[tuple[int, float | int]], str]:
        """``([(epoch, mistakes | loss)], "mistakes" | "loss")`` for the epoch table."""
        from nnlab.render.plots import epoch_table

        tr = self.training
        assert tr is not None
        if self._epoch_rows is None:
            self._epoch_rows = epoch_table(tr)
        return self._epoch_rows, "mistakes" if tr.config.rule == "perceptron" else "loss"

    def params_text(self, epoch: int) -> str:
        """The parameters at the end of ``epoch``, compactly: ``w=[2, 1] b=-2``."""
        tr = self.training
        if tr is None or not 1 <= epoch < len(tr.epoch_end):
            return ""
        snap = tr.snapshots[int(tr.epoch_end[epoch])]
        parts = []
        for p in tr.params:
            a = to_float(snap[p])[0]
            flat = [fmt(v, 3) for v in a.reshape(-1)[:6].tolist()]
            more = "…" if a.size > 6 else ""
            parts.append(f"{p}={flat[0]}" if a.ndim == 0 else f"{p}=[{', '.join(flat)}{more}]")
        return " ".join(parts)

    def examples_at(self, step: int) -> int:
        """Number of examples the run of ``step`` computes on (an update's batch in training)."""
        if step == self.failure_step:
            return 1
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

    def _rows(self) -> Rows:
        if isinstance(self.steps, TrainSteps) and self.training is not None:
            return TrainRows(self.steps, self.training, self._titles())
        rows: list[Row] = []
        group: tuple = (object(), object(), object())
        note = explain.target_note(self.run)
        for s in self.steps:
            key = (s.epoch, s.update, s.phase)
            if key != group:
                text = f"{s.phase} · gradients {note}" if s.phase == BACKWARD and note else s.phase
                rows.append(Row("header", text, phase=s.phase, level=2))
                group = key
            rows.append(self._step_row(s, self.run, s))
        if self.failure_step is not None:
            from nnlab.session import error_kind

            rows.append(Row("failed", f"✗ {self.failure_title}", self.failure_step,
                            f"{error_kind(self.failure)} error"))
        return ListRows(rows)

    # ------------------------------------------------------------------ a scenario meant to fail
    @property
    def last_step(self) -> int:
        """The last index the lab can show: the last step, or the failed line's row after it."""
        return len(self.steps) - 1 if self.failure_step is None else self.failure_step

    def is_failure(self, step: int) -> bool:
        """True if ``step`` is the failed line's row (not a step of the run)."""
        return step == self.failure_step

    @property
    def failure_title(self) -> str:
        """The line the run stopped at: ``D = A + B`` (or the file's line, for a failure on no compute line)."""
        eq = self.session.failed_equation
        if eq is not None:
            return f"{eq.name} = {eq.text}"
        loc = self.failure.loc if self.failure is not None else None
        source = loc.source.strip().removeprefix("- ") if loc is not None and loc.source else ""
        return source or "the run"

    def failure_operands(self) -> list[Operand]:
        """The values the failed line reads that the lines before it computed (what does not fit)."""
        eq = self.session.failed_equation
        if eq is None:
            return []
        out: list[Operand] = []
        for name in dict.fromkeys(_names(eq.expr)):
            node = self.run.graph.nodes.get(name)
            a = self._array(None, self.run, name) if node is not None and node.named else None
            if a is not None:
                out.append(Operand(len(out), self.display(name), "input", _per_example(a, 0), node=name))
        return out

    def _titles(self) -> list[Row]:
        """The step rows of one training update (the same for every update), index = offset in it."""
        steps = self.steps
        assert isinstance(steps, TrainSteps)
        run = self.session.run_for(steps[0]) if len(steps) else self.run
        return [self._step_row(steps[k], run, steps.inner(steps[k])) for k in range(min(steps.group, len(steps)))]

    def _step_row(self, s: Step, run: Run, inner: Step | None) -> Row:
        sub = s.phase == FORWARD and self._temp(s.node)
        title = explain.step_title(run, inner, hide=not self.show_hidden) if inner is not None else s.label
        shape = shape_text(tuple(s.shape))
        if s.phase == BACKWARD and inner is not None:
            spaces = explain.element_spaces(run, inner, hide=not self.show_hidden)
            shape = shape_text(tuple(spaces[0][1])) if len(spaces) == 1 else ""
        return Row("step", title, s.index, shape, s.phase, sub)

    def _temp(self, node: str) -> bool:
        n = self.run.graph.nodes.get(node)
        return n is not None and n.is_temp

    def set_show_hidden(self, show: bool) -> None:
        """Show (or hide) gradients w.r.t. data, labels and constants: titles, elements, tensors."""
        if show == self.show_hidden:
            return
        self.show_hidden = show
        with self._caching:
            self._counts.clear()
            self._operands.clear()
            self._focus.clear()
        self.rows = self._rows()

    def row_of_step(self, step: int) -> int:
        """The graph-pane row showing ``step``."""
        return self.rows.row_of_step(step)

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
        words = text.split()
        if len(words) == 2 and words[0] in ("epoch", "update") and words[1].isdigit():
            return self._training_step(words[0], int(words[1]))
        if text.isdigit():
            k = int(text) - 1
            return k if 0 <= k < len(self.steps) else None
        phase = FORWARD
        if text.startswith("grad(") and text.endswith(")"):
            text, phase = text[5:-1].strip(), BACKWARD
        elif text.startswith("∂") and "/∂" in text:
            text, phase = text.split("/∂", 1)[1], BACKWARD
        if phase == BACKWARD:  # grad(x): the (first) backward step that computes ∂T/∂x
            for s in self._first_group():
                if s.phase == BACKWARD and text in s.inputs:
                    return s.index
        for s in self._first_group():
            if s.phase == phase and s.node == text:
                return s.index
        for s in self._first_group():
            if s.label == name.strip():
                return s.index
        for s in self._first_group():  # the step that computes it in any phase
            if s.node == text:
                return s.index
        return None

    def backward_steps(self) -> list[int]:
        """Indices of the backward steps (of a training's first update: the others repeat them)."""
        return [s.index for s in self._first_group() if s.phase == BACKWARD]

    def _first_group(self) -> Sequence[Step]:
        """The steps to search by name: all of a run's; a training's first update (every update has the same)."""
        if isinstance(self.steps, TrainSteps):
            return self.steps[: self.steps.group]
        return self.steps

    def _training_step(self, what: str, n: int) -> int | None:
        """The first step of epoch ``n`` or of update ``n`` (None outside the training)."""
        if not isinstance(self.steps, TrainSteps):
            return None
        if what == "epoch":
            return self.first_of_epoch(n)
        return (n - 1) * self.steps.group if 1 <= n <= len(self.training.records) else None

    # ------------------------------------------------------------------ elements
    def element_count(self, step: int) -> int:
        """How many elements Up/Down move through in ``step`` (at least one: there is always a cursor)."""
        if step == self.failure_step:
            return 1
        with self._caching:
            n = self._counts.get(step)
        if n is None:
            n = max(1, explain.element_count(*self._where(step), hide=not self.show_hidden))
            with self._caching:
                self._counts.set(step, n)
        return n

    def element_at(self, step: int, k: int) -> tuple[int, tuple[int, ...]]:
        """``(slot, index)`` of element ``k`` of ``step`` (``(-1, ())`` for a step without elements)."""
        try:
            return explain.element_at(*self._where(step), k, hide=not self.show_hidden)
        except IndexError:
            return -1, ()

    def element_number(self, step: int, slot: int, index: tuple[int, ...]) -> int | None:
        """Element number of ``(slot, index)`` in ``step`` (None if it is not an element there)."""
        return explain.element_number(*self._where(step), slot, index, hide=not self.show_hidden)

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
        for slot, _shape in explain.element_spaces(run, st, hide=not self.show_hidden):
            nid = st.inputs[slot]
            c = self._array(update, run, st.node, f"slot:{slot}")
            if c is None:
                continue
            k, n = st.accumulates[slot] if slot < len(st.accumulates) else (1, 1)
            # a grid that holds one of several contributions is not the gradient: say so in its title
            title = grad_label(target, self.display(nid))
            if n > 1:
                title = f"{title} contribution {k} of {n}"
            out.append(Operand(slot, title, "grad", _per_example(c, example), cursor=True,
                               note=f"(the gradient is the sum of all {n})" if n > 1 else "", node=nid))
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
        return Focus(slot, index, {slot: Marks({index: "current"})}, None,
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
        marks: dict[int, Marks] = {}
        try:
            ex = self.session.explain(self.steps[step], index, slot=None if slot < 0 else slot, example=example,
                                      digits=digits)
        except NnlabError as exc:  # shown in the math pane
            return Focus(slot, index, {slot: Marks({index: "current"})}, None, exc.message)
        except ArithmeticError as exc:  # exact arithmetic on the user's numbers
            return Focus(slot, index, {slot: Marks({index: "current"})}, None, f"{type(exc).__name__}: {exc}")
        for use in ex.uses:
            if use.extent:  # a block of cells reported as one record (a sum over millions): kept whole
                marks.setdefault(use.slot, Marks()).boxes.append(use)
                continue
            if use.slot == slot and tuple(use.index) == index:
                continue
            marks.setdefault(use.slot, Marks())[tuple(use.index)] = use.role
        marks.setdefault(slot, Marks())[index] = "current"
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

    def local_text(self, step: int, k: int, example: int = 0, digits: int = 4) -> str:
        """The local derivative of a backward step's op for element ``k``, as a formula and with numbers:
        ``∂loss/∂ŷ = (1 − y)/(1 − ŷ) − y/ŷ = (1 − 1)/(1 − 0.5843) − 1/0.5843 = -1.7115``.

        The formula is the op's symbolic rule (sympy, so call it from a worker); the numbers
        are this run's values put into it and the value the engine's backward used.
        ``""`` for forward and update steps.
        """
        run, inner = self.context(step)
        if inner is None or inner.phase != BACKWARD:
            return ""
        slot, index = self.element_at(step, k)
        from nnlab.symbolic.printing import unicode  # sympy: only in a worker
        from nnlab.symbolic.rules import step_rule

        from nnlab.symbolic.kit import NoSymbolicForm

        try:
            rule = step_rule(run, inner)
        except NoSymbolicForm as exc:  # said in the pane
            return f"local derivative: no symbolic form ({exc})"
        d = next((d for d in rule.derivatives if d.slot == slot), None)
        if d is None:
            return ""
        text = d.unicode
        local = self._local_value(run, inner, slot, index, example)
        numbers = _with_numbers(run, inner, d.in_output if d.in_output is not None else d.expr, index, example,
                                digits, unicode)
        if numbers and local is not None and numbers != fmt(local, digits):
            text += f" = {numbers}"
        if local is not None and not text.endswith(f" = {fmt(local, digits)}"):
            text += f" = {fmt(local, digits)}"
        return text

    @staticmethod
    def _local_value(run: Run, st: Step, slot: int, index: tuple[int, ...], example: int) -> float | None:
        """∂out/∂input[index] when one output element depends on the input element (else None:
        the explanation's sum lists each term's local factor)."""
        op = run.op(st.node)
        out_shape = run.graph.nodes[st.node].shape
        deps = op.dependents(slot, index, out_shape)
        if deps is None:
            deps = list(np.ndindex(*out_shape)) if out_shape else [()]
            if len(deps) > 1:
                return None
        if len(deps) != 1:
            return None
        e_in = example if run.values[st.inputs[slot]].shape[0] > 1 else 0
        e_out = example if run.grads[st.node].shape[0] > 1 else 0
        try:
            return float(op.local(slot, (e_out,) + tuple(deps[0]), (e_in,) + tuple(index)))
        except (IndexError, ValueError, TypeError):
            return None

    # ------------------------------------------------------------------ text
    def conventions(self, step: int) -> str:
        """The conventions in force at ``step`` (training rule, padding per side or total, stride…)."""
        run, inner = self.context(step)
        return explain.conventions(run, inner, self.training.config if self.training is not None else None)

    def step_shape_rule(self, step: int) -> str:
        """The op's output-shape rule with numbers (conv/pool), else ``""``."""
        run, inner = self.context(step)
        return explain.shape_rule(run, inner) if inner is not None else ""


def _with_numbers(run: Run, st: Step, expr: object, index: tuple[int, ...], example: int, digits: int,
                  unicode: Callable[[object], str]) -> str:
    """``expr`` (sympy, in the step's node names) with this element's values put in, as text; ``""``
    when it is written with indices (a sum over ``j``) or a name has no single value here."""
    import sympy as sp

    if not isinstance(expr, sp.Basic) or any(isinstance(a, sp.Indexed) for a in sp.preorder_traversal(expr)):
        return ""
    names = {run.graph.display(n): n for n in (st.node, *st.inputs) if n}
    subs = {}
    for sym in expr.free_symbols:
        nid = names.get(str(sym))
        if nid is None:
            return ""
        a = explain.example_value(run, nid, example)
        if a.shape == ():
            v = a[()]
        elif len(a.shape) != len(index):
            return ""
        else:
            v = a[index]
        text = fmt(v, digits)
        subs[sym] = sp.Symbol(f"({text})" if text.startswith("-") else text)
    if not subs:
        return ""
    return unicode(expr.xreplace(subs))


def _names(expr: object) -> list[str]:
    """The names an expression reads, in order (``A * B.T`` → ``A``, ``B``)."""
    if isinstance(expr, Name):
        return [expr.id]
    if isinstance(expr, tuple):
        return [n for part in expr for n in _names(part)]
    return []


def load_model(path: str) -> LabModel:
    """Load and run a scenario file into a :class:`LabModel` (called in a worker thread)."""
    session = open_session(path)
    model = LabModel(session, os.path.abspath(path))
    if model.training is not None:
        model.epoch_rows()  # here in the worker, not when the lab first shows the table
    return model
