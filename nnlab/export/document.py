"""A worked solution as a list of blocks, in the order a student writes it by hand.

Why a document model between the session and the three formats: what goes into a
handout (the given values, the conventions, every step's rule and arithmetic, the
training table, the chain for a reference, the check table) is decided once, here,
and Markdown, LaTeX and HTML only spell the same blocks differently. Every number,
rule and line of arithmetic in a block is text the engine wrote
(:class:`~nnlab.engine.trace.Explanation`, :func:`~nnlab.engine.explain.conventions`,
the symbolic chain, the training summary) or a value of the run formatted by
:func:`nnlab.numfmt.fmt`; this module only picks which ones and in which order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nnlab.engine import explain as engine_explain
from nnlab.engine.run import to_float
from nnlab.engine.trace import BACKWARD, FORWARD, UPDATE, Step
from nnlab.errors import NnlabError
from nnlab.numfmt import fmt, fmt_array

MAX_TERMS = engine_explain.MAX_TERMS
"""Longest sum written out (as the engine's own backward explanations)."""
ALL_BELOW = 9
"""A step with at most this many elements has every element written out."""
FIRST = 4
"""Otherwise the first this many, and the count of the rest."""
MATRIX_EDGE = 8
"""Rows and columns of a matrix shown before ``⋯``."""
UPDATES_ALL = 12
"""A training with at most this many updates has every update written out."""
UPDATES_HEAD, UPDATES_TAIL = 6, 3
"""Otherwise the first and last this many."""
EPOCHS_ALL, EPOCHS_HEAD, EPOCHS_TAIL = 25, 20, 5
"""The per-epoch table: every epoch up to 25, else the first 20 and the last 5 (as ``nnlab run``)."""


# ------------------------------------------------------------------------ blocks


@dataclass(frozen=True)
class Heading:
    """A section title (level 1 is the document's title)."""

    level: int
    text: str


@dataclass(frozen=True)
class Prose:
    """Markdown written by the scenario's author (the ``about`` notes)."""

    markdown: str


@dataclass(frozen=True)
class Para:
    """A sentence of plain text; ``code`` is shown as code (a label, a reference)."""

    text: str
    code: str = ""


@dataclass(frozen=True)
class Math:
    """Equations in the engine's Unicode math, one per line (``Y[0,0] = 0×0 + 1×1 = 1``)."""

    lines: tuple[str, ...]


@dataclass(frozen=True)
class Matrix:
    """A tensor as a matrix of formatted numbers: ``name = [cells]``.

    Attributes:
        name: The left-hand side in Unicode math (``"∂loss/∂W1"``).
        cells: Rows of formatted numbers; ``"⋯"`` stands for elided entries.
        role: ``"given"``, ``"result"``, ``"upstream"`` (what a round-trip test compares).
        step: The index of the step the tensor belongs to (−1 for none).
        slot: Backward results: which input of the step.
    """

    name: str
    cells: tuple[tuple[str, ...], ...]
    role: str = "result"
    step: int = -1
    slot: int = -1


@dataclass(frozen=True)
class Table:
    """A table of plain-text cells."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Pre:
    """Preformatted text (a text drawing of the graph)."""

    text: str


@dataclass(frozen=True)
class GraphNode:
    """One box of the graph picture, placed on the drawing's character grid.

    Attributes:
        id: The name it shows (``"z1"``).
        variable: A value, parameter or data (drawn with round corners); False for an op.
        lines: Its text: the name, ``op · shape``, then the numbers (when small), each
            already cut to the box's width.
        x, y, w, h: Left column, top row, width and height, in grid cells.
    """

    id: str
    variable: bool
    lines: tuple[str, ...]
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class Graph:
    """The computational graph as the lab lays it out (:mod:`nnlab.render.diagram`).

    Attributes:
        text: The lab's text drawing of it (Markdown and HTML show this).
        width, height: The grid's size in cells.
        nodes: The boxes, where the layout put them.
        arrows: Per edge ``(from, to)``, the ids and the route as points in grid units
            (x right, y down), from the source box's bottom edge to the target box's top edge,
            one point per bend — the routes of the text drawing.
        caption: What the numbers in the boxes are ("" when there are none).
    """

    text: str
    width: int
    height: int
    nodes: tuple[GraphNode, ...]
    arrows: tuple[tuple[str, str, tuple[tuple[float, float], ...]], ...]
    caption: str = ""


@dataclass(frozen=True, eq=False)
class Chart:
    """A training plot: its data (a :class:`nnlab.render.plots.Plot`) and the same plot as text.

    HTML draws ``plot`` as an SVG picture (matplotlib); Markdown, LaTeX and HTML without
    matplotlib show ``text``.
    """

    plot: Any
    text: str


Block = Heading | Prose | Para | Math | Matrix | Table | Pre | Graph | Chart


@dataclass(frozen=True)
class Document:
    """A worked solution: its title and its blocks, in order."""

    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Options:
    """What goes into an export.

    Attributes:
        phase: ``"forward"``, ``"backward"`` or ``"all"``.
        refs: References whose chain is written out; None: the ``expect`` references.
        answers: Add the check table with each wrong answer's diagnosis.
        digits: Decimal places (as ``nnlab run --digits``).
    """

    phase: str = "all"
    refs: tuple[str, ...] | None = None
    answers: bool = False
    digits: int = 4


# ----------------------------------------------------------------------- builder


def build(session: Any, options: Options | None = None) -> Document:
    """The worked solution of a session: given values, conventions, steps, training, chains, answers."""
    options = options or Options()
    scenario = session.scenario
    d = options.digits
    blocks: list[Block] = [Heading(1, scenario.title)]
    if scenario.about.strip():
        blocks.append(Prose(scenario.about.strip()))
    blocks += _given(session, d)
    blocks += _conventions(session)
    picture = graph_picture(session)
    if picture is not None:
        blocks += [Heading(2, "The computational graph"), picture]
    if session.training is None:
        blocks += _steps(session, [s for s in session.steps if _wanted(s, options.phase)], d)
    else:
        blocks += _training(session, options)
        pictures = training_pictures(session)
        blocks += [Heading(2, "Plots"), *pictures] if pictures else []
    failure = getattr(session, "failure", None)
    if failure is not None:
        blocks += [Heading(2, "Where it stops"), Para(f"the scenario stops, as it expects, at: {failure.message}")]
    blocks += _chains(session, options)
    if options.answers:
        blocks += _answers(session, d)
    return Document(scenario.title, tuple(blocks))


def _wanted(step: Step, phase: str) -> bool:
    return phase == "all" or step.phase == phase


def graph_picture(session: Any) -> Graph | None:
    """The computational graph as the lab draws it (:mod:`nnlab.render.diagram`): the text
    drawing and, for pictures, where its layout puts each box and how each arrow runs.

    The boxes hold the run's values where they are small, as in the lab. None when the
    drawing cannot be made (its layout library missing, a graph it refuses): the worked
    solution stands without its picture.
    """
    try:
        from nnlab.render.diagram import Frame, box_lines, diagram_of, draw, run_numbers, text_lines

        diagram = diagram_of(session.run.graph)
        values = {} if _shapes_only(session) else run_numbers(diagram, session.run, "value")
        drawing = draw(diagram, value_rows=values)
        text = "\n".join(text_lines(drawing, Frame(values=values))).strip("\n")
    except Exception:  # noqa: BLE001 - a picture is an extra
        return None
    if not text:
        return None
    nodes = []
    for bid, p in drawing.boxes.items():
        box = diagram.boxes[bid]
        lines = tuple(_clip(line, p.w - 4) for line in box_lines(box, values.get(bid, ())))
        nodes.append(GraphNode(bid, box.variable, lines, p.x, p.y, p.w, p.h))
    arrows = tuple((a, b, route) for (a, b), route in zip(diagram.edges, arrow_routes(drawing)) if route)
    return Graph(text, drawing.width, drawing.height, tuple(nodes), arrows, _values_caption(session) if values else "")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def arrow_routes(drawing: Any) -> list[tuple[tuple[float, float], ...]]:
    """Each arrow of a :class:`~nnlab.render.diagram.Drawing` as a polyline in grid units.

    The drawing knows, per cell, which arrows pass through it and in which directions.
    Arrows only run down and sideways, so an arrow's cells on one row are a single
    sideways run: it enters that row at the cell it reaches from above and leaves it
    at the cell it goes down from. The route starts on the source box's bottom edge
    (the top of the first cell), bends at the middle of the cells where it turns, and
    ends on the target box's top edge (the bottom of its last cell, the arrow head).
    """
    up, down = 1, 2  # nnlab.render.diagram's direction bits
    rows: dict[int, dict[int, dict[int, int]]] = {}  # edge -> row -> x -> directions
    for y, cells in enumerate(drawing.edge_cells):
        for x, passing in cells.items():
            for k, dirs in passing:
                rows.setdefault(k, {}).setdefault(y, {})[x] = dirs
    routes: list[tuple[tuple[float, float], ...]] = []
    for k in range(len(drawing.diagram.edges)):
        by_row = rows.get(k)
        if not by_row:
            routes.append(())
            continue
        ys = sorted(by_row)
        points: list[tuple[float, float]] = []
        for y in ys:
            cells = by_row[y]
            enter = next((x for x, d in cells.items() if d & up), min(cells))
            leave = next((x for x, d in cells.items() if d & down), enter)
            if not points:
                points.append((enter + 0.5, float(y)))
            if leave != enter:
                points += [(enter + 0.5, y + 0.5), (leave + 0.5, y + 0.5)]
        last = by_row[ys[-1]]
        end_x = next((x for x, d in last.items() if d & up), min(last))
        points.append((end_x + 0.5, ys[-1] + 1.0))
        routes.append(tuple(points))
    return routes


def _values_caption(session: Any) -> str:
    run = session.run
    which = "the values of the forward pass"
    if session.training is not None:
        which += " with the trained parameters"
    if getattr(run, "batch", 1) > 1:
        which += f", example 0 of {run.batch}"
    return f"The numbers in the boxes are {which}."


def training_pictures(session: Any) -> list[Chart]:
    """The lab's training plots (loss per update, the decision boundary) as :class:`Chart` blocks
    (the data and the text drawing), when :mod:`nnlab.render.plots` can draw them; none otherwise."""
    try:
        from nnlab.render import plots

        charts = [plots.make(session, kind) for kind in plots.kinds(session) if kind in ("loss", "boundary")]
        return [Chart(plot, plots.plot_text(plot, width=76, height=20)) for plot in charts]
    except Exception:  # noqa: BLE001 - a picture is an extra
        return []


def _given(session: Any, d: int) -> list[Block]:
    scenario = session.scenario
    names = list(scenario.values) + list(scenario.data)
    if not names:
        return []
    start = session.training.snapshots[0] if session.training is not None else {}
    out: list[Block] = [Heading(2, "Given")]
    if _shapes_only(session):
        shapes = {n: session.run.graph.nodes[n].shape for n in names if n in session.run.graph.nodes}
        return out + [Para(f"{n}: shape {' × '.join(map(str, shape)) or '()'}") for n, shape in shapes.items()]
    for name in names:
        value = start.get(name) if name in start else session.run.values.get(name)
        if value is None:
            continue
        node = session.run.graph.nodes.get(name)
        data = name in scenario.data
        array = value if data or (node is not None and node.batched and session.run.batch_axis) else value[0]
        out += matrices(name, to_float(array), d, role="given")
    return out


def _conventions(session: Any) -> list[Block]:
    """The conventions in force: arithmetic, backward target, step(0), each step's padding/variant/stride."""
    run = session.run
    tr = session.training
    lines = [f"arithmetic: {tr.arithmetic if tr is not None else run.arithmetic}"
             + (" (exact fractions: every number is the decimal a student writes)"
                if (tr.arithmetic if tr is not None else run.arithmetic) == "exact" else "")]
    if run.target:
        lines.append(f"backward pass from {run.target} (∂{run.target}/∂{run.target} = 1)")
    if any(n.op is not None and n.op.name == "step" for n in run.graph.nodes.values()):
        at = session.scenario.options.get("step_at_zero", 0)
        lines.append(f"step(0) = {fmt(at)} (options.step_at_zero; the lecture's step is 1 only if z > 0)")
    if tr is not None:
        lines.append("training: " + engine_explain.conventions(run, None, tr.config))
    seen: set[str] = set()
    for step in run.steps:
        if step.phase != FORWARD:
            continue
        text = engine_explain.conventions(run, step)
        if text and (step.label, text) not in seen:
            seen.add((step.label, text))
            lines.append(f"{step.label}: {text}")
    out: list[Block] = [Heading(2, "Conventions")]
    out += [Para(line) for line in lines]
    notice = _step_zero_notice(session)
    if notice:
        out.append(Para(notice))
    return out


def _step_zero_notice(session: Any) -> str | None:
    if not any(n.op is not None and n.op.name == "step" for n in session.run.graph.nodes.values()):
        return None
    from nnlab.diagnosis import step_zero_notice

    return step_zero_notice(session)


# ------------------------------------------------------------------------- steps


def _steps(session: Any, steps: list[Step], d: int, title: str = "") -> list[Block]:
    out: list[Block] = []
    phase = None
    for step in steps:
        if step.phase != phase:
            phase = step.phase
            name = {FORWARD: "Forward pass", BACKWARD: "Backward pass", UPDATE: "Updates"}[phase]
            out.append(Heading(2, f"{title}{name}" if not title else f"{title} — {name.lower()}"))
        out += step_blocks(session, step, d)
    return out


def step_blocks(session: Any, step: Step, d: int) -> list[Block]:
    """One step: its equation, conventions, shape rule, the op's rule, each element's arithmetic, the result.

    A backward step shows the upstream gradient, then for each input that receives
    a gradient: the rule (upstream × local, with the local derivative's formula),
    the arithmetic of each element and the gradient it adds.
    """
    run = session.run_for(step)
    inner = session.inner_step(step)
    out: list[Block] = [Heading(3, f"Step {step.index + 1} · {step.phase}"), Para("", code=step.label)]
    if inner is not None:
        conv = engine_explain.conventions(run, inner)
        rule = engine_explain.shape_rule(run, inner)
        if conv:
            out.append(Para(f"conventions: {conv}"))
        if rule:
            out.append(Math(tuple(rule.split("; "))))
    if step.phase == BACKWARD:
        out += matrices(f"∂{run.target}/∂{run.graph.display(step.node)}", _per_example(run, step.node, grad=True),
                        d, role="upstream", step=step.index)
    example = _example_note(run, step)
    if example:
        out.append(Para(example))
    if _shapes_only(session):
        return out + [Para(f"shape {' × '.join(map(str, step.shape)) or '() (a single number)'}")]
    spaces = engine_explain.element_spaces(run, inner) if inner is not None else [(-1, tuple(step.shape))]
    few = inner is None or engine_explain.quick(run, inner)  # a 25,088-term dot product: one element
    for slot, shape in spaces:
        count = int(np.prod(shape)) if shape else 1
        shown = _first(shape, count if count <= ALL_BELOW else FIRST if few else 1)
        elements = range(count)
        kwargs = {"slot": slot} if step.phase == BACKWARD else {}
        exps = [session.explain(step, e, digits=d, **kwargs) for e in shown]
        out.append(Math((exps[0].formula,)))
        out.append(Math(tuple(_short(ex.text) for ex in exps)))
        notes = tuple(dict.fromkeys(ex.note for ex in exps if ex.note))
        out += [Para(f"note: {n}") for n in notes]
        if len(elements) > len(shown):
            out.append(Para(f"… {len(elements) - len(shown)} more elements by the same rule "
                            f"({len(elements)} in all)."))
        out += _result(session, run, step, slot, d)
    return out


def _shapes_only(session: Any) -> bool:
    """A scenario run for its shapes alone (VGG-16's parameter count): no value was computed."""
    return bool(getattr(session.scenario, "shape_only", False))


def _first(shape: tuple[int, ...], n: int) -> list[tuple[int, ...]]:
    """The first ``n`` indices of ``shape`` in row-major order (without listing the others)."""
    if not shape:
        return [()]
    return [tuple(int(i) for i in np.unravel_index(k, shape)) for k in range(n)]


def _short(line: str) -> str:
    """An engine line with a sum of more than :data:`MAX_TERMS` terms cut to its first terms,
    a count, and its last term and result (a 1024-term dot product is not read by anyone)."""
    terms = _top_level_split(line, " + ")
    if len(terms) <= MAX_TERMS:
        return line
    return " + ".join(terms[:MAX_TERMS // 2] + [f"… ({len(terms) - MAX_TERMS // 2 - 1} more terms)"] + terms[-1:])


def _top_level_split(text: str, sep: str) -> list[str]:
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i = i + len(sep)
            continue
        i += 1
    return parts + [text[start:]]


def _result(session: Any, run: Any, step: Step, slot: int, d: int) -> list[Block]:
    if step.phase == FORWARD:
        return matrices(run.graph.display(step.node), _per_example(run, step.node), d, step=step.index)
    if step.phase == BACKWARD:
        inp = step.inputs[slot]
        contribution = run.contributions[(step.node, slot)]
        contribution = contribution if run.values[inp].shape[0] > 1 and run.batch_axis else contribution[0]
        k, n = step.accumulates[slot] if slot < len(step.accumulates) else (1, 1)
        name = f"∂{run.target}/∂{run.graph.display(inp)}"
        out = matrices(name + (f" (contribution {k} of {n})" if n > 1 else ""), to_float(contribution), d,
                       step=step.index, slot=slot)
        return out
    value = session.training.snapshots[step.update][step.node][0]
    return matrices(f"{step.node} (after update {step.update})", to_float(value), d, step=step.index)


def _per_example(run: Any, nid: str, grad: bool = False) -> np.ndarray:
    data = run.grads[nid] if grad else run.values[nid]
    node = run.graph.nodes[nid]
    return to_float(data if node.batched and run.batch_axis else data[0])


def _example_note(run: Any, step: Step) -> str:
    if run.batch > 1 and run.graph.nodes[step.node].batched:
        return f"the arithmetic is written out for example 0 of {run.batch}; the result holds every example"
    return ""


def matrices(name: str, array: np.ndarray, d: int, *, role: str = "result", step: int = -1,
             slot: int = -1) -> list[Block]:
    """A tensor as :class:`Matrix` blocks: a scalar, a row for a vector, one matrix per leading
    index for rank 3 and more (``X[0]``, ``X[1]`` …), at most :data:`MATRIX_EDGE` per axis."""
    a = np.asarray(array)
    if a.ndim <= 2:
        return [Matrix(name, _cells(a, d), role, step, slot)]
    out: list[Block] = []
    for i in range(min(a.shape[0], MATRIX_EDGE)):
        out += matrices(f"{name}[{i}]", a[i], d, role=role, step=step, slot=slot)
    if a.shape[0] > MATRIX_EDGE:
        out.append(Para(f"… {a.shape[0] - MATRIX_EDGE} more of {name}[i]"))
    return out


def _cells(a: np.ndarray, d: int) -> tuple[tuple[str, ...], ...]:
    if a.ndim == 0:
        return ((fmt(a.item(), d),),)
    rows = a.reshape(1, -1) if a.ndim == 1 else a
    cut = rows[:MATRIX_EDGE, :MATRIX_EDGE]
    cells = [[fmt(v, d) for v in row] + (["⋯"] if rows.shape[1] > MATRIX_EDGE else []) for row in cut.tolist()]
    if rows.shape[0] > MATRIX_EDGE:
        cells.append(["⋮"] * len(cells[0]))
    return tuple(tuple(r) for r in cells)


# ---------------------------------------------------------------------- training


def _training(session: Any, options: Options) -> list[Block]:
    tr = session.training
    d = options.digits
    out: list[Block] = [Heading(2, "Training"), Para(f"stopped: {tr.summary()}"), _epoch_table(tr, d)]
    if not tr.records:
        return out
    steps = session.steps
    group = steps.group
    template = [steps[k] for k in range(len(steps.template))]
    rec = tr.records[0]
    out.append(Heading(2, f"Update 1 worked in full (epoch {rec.epoch}, example(s) {list(rec.examples)[:8]})"))
    out += _steps(session, [s for s in template if _wanted(s, options.phase)], d, title="Update 1")
    if options.phase == "all":
        n = len(tr.records)
        numbers = list(range(n)) if n <= UPDATES_ALL else (list(range(UPDATES_HEAD))
                                                            + list(range(n - UPDATES_TAIL, n)))
        out.append(Heading(2, "Every update" if n <= UPDATES_ALL else
                           f"The updates (the first {UPDATES_HEAD} and the last {UPDATES_TAIL} of {n})"))
        previous = -1
        for u in numbers:
            if u != previous + 1:
                out.append(Para(f"… updates {previous + 2} to {u} as above."))
            previous = u
            out += _update(session, u, group, d)
    return out


def _epoch_table(tr: Any, d: int) -> Table:
    perceptron = tr.config.rule == "perceptron"
    header = ("epoch", "mistakes" if perceptron else "mean loss", *tr.params)
    epochs = list(range(tr.epochs + 1))
    shown = epochs if len(epochs) <= EPOCHS_ALL else epochs[:EPOCHS_HEAD] + [None] + epochs[-EPOCHS_TAIL:]
    rows = []
    for e in shown:
        if e is None:
            rows.append(("…",) * len(header))
            continue
        snap = tr.snapshots[tr.epoch_end[e]]
        if e == 0:
            stat = "(start)"
        elif perceptron:
            stat = str(tr.mistakes[e - 1])
        else:
            recs = tr.records[tr.epoch_end[e - 1]:tr.epoch_end[e]]
            stat = fmt(sum(r.loss for r in recs) / len(recs), d) if recs else "—"
        rows.append((str(e), stat, *(" ".join(fmt_array(to_float(snap[p][0]), d)) for p in tr.params)))
    return Table(header, tuple(rows))


def _update(session: Any, u: int, group: int, d: int) -> list[Block]:
    tr = session.training
    rec = tr.records[u]
    out: list[Block] = [Heading(3, f"Update {rec.number} · epoch {rec.epoch} · example(s) "
                                   f"{list(rec.examples)[:8]}{'…' if len(rec.examples) > 8 else ''}")]
    first = group - len(tr.params)
    for k, param in enumerate(tr.params):
        step = session.steps[u * group + first + k]
        shape = tuple(step.shape)
        elements = range(int(np.prod(shape)) if shape else 1)
        shown = _first(shape, len(elements) if len(elements) <= ALL_BELOW else FIRST)
        exps = [session.explain(step, e, digits=d) for e in shown]
        out.append(Math((exps[0].formula,) + tuple(ex.text for ex in exps)))
        if len(elements) > len(shown):
            out.append(Para(f"… {len(elements) - len(shown)} more elements of {param}."))
        notes = tuple(dict.fromkeys(ex.note for ex in exps if ex.note))
        out += [Para(f"note: {n}") for n in notes]
    return out


# ------------------------------------------------------------------------ chains


def _chains(session: Any, options: Options) -> list[Block]:
    given = options.refs is not None
    refs = list(options.refs) if given else [e.ref for e in session.scenario.expect]
    out: list[Block] = []
    for ref in dict.fromkeys(refs):
        try:
            out += chain_blocks(session, ref, options.digits)
        except NnlabError:
            if given:
                raise
    if out:
        out.insert(0, Heading(2, "The references, explained"))
    return out


def chain_blocks(session: Any, ref: str, d: int) -> list[Block]:
    """One reference: its quantity formula, or each step that computes it and the sympy chain.

    Raises:
        NnlabError: The reference names no single element or quantity.
    """
    quantity = session.explain_quantity(ref)
    if quantity is not None:
        return [Heading(3, ref), Math(tuple(line.strip() for line in quantity))]
    found = session.explain_ref(ref, digits=d)
    run, plain, context = session.ref_context(ref)
    out: list[Block] = [Heading(3, ref)]
    if context:
        out.append(Para(f"with {context}"))
    for step, ex in found:
        out.append(Para(f"step {step.index + 1} ({step.phase}): ", code=step.label))
        out.append(Math((ex.formula, ex.text)))
        if ex.note:
            out.append(Para(f"note: {ex.note}"))
    symbolic = _symbolic(run, plain, d)
    if symbolic:
        out += [Para("the chain rule, factor by factor (derived with sympy):"), Math(symbolic)]
    return out


def _symbolic(run: Any, ref: str, d: int) -> tuple[str, ...]:
    """The sympy chain of a gradient reference (a value's rule is its step's formula, shown above)."""
    if not ref.replace(" ", "").startswith("grad("):
        return ()
    try:
        from nnlab.symbolic.chain import chain_for, format_chain

        lines = format_chain(chain_for(run, ref), d).splitlines()
    except Exception:  # noqa: BLE001 - the numeric explanation above stands on its own
        return ()
    return tuple(line.strip() for line in lines if line.strip())


# ----------------------------------------------------------------------- answers


def _answers(session: Any, d: int) -> list[Block]:
    report = session.check()
    out: list[Block] = [Heading(2, "Answers checked")]
    if not report.items:
        return out + [Para("no expect: entries to check")]
    rows = []
    for item in report.items:
        computed = item.error if item.error is not None else _value_text(item.actual, d)
        rows.append((item.ref, item.expected, computed, "✓" if item.ok else "✗"))
    out.append(Table(("reference", "your answer", "computed", ""), tuple(rows)))
    for item in report.items:
        if item.ok or item.error is not None:
            continue
        out.append(Para("why ", code=item.ref))
        for finding in item.diagnosis:
            where = f" [step {finding.step + 1}]" if finding.step is not None else ""
            out.append(Para(f"({finding.id}) {finding.message}{where}"))
        if not item.diagnosis:
            out.append(Para(f"no known mistake reproduces this answer (tolerance {item.tolerance or 'exact'})"))
    n_ok = sum(i.ok for i in report.items)
    if report.ok:
        out.append(Para(f"all {n_ok} answers match"))
    else:
        first = report.first_mistake
        where = f" (step {first.step + 1})" if first.step is not None else ""
        out.append(Para(f"{len(report.items) - n_ok} of {len(report.items)} answers differ; "
                        f"the first mistake{where}: ", code=first.ref))
    return out


def _value_text(value: Any, d: int) -> str:
    if value is None:
        return "—"
    a = np.asarray(value)
    if a.dtype == bool:
        return str(a.tolist()).lower()
    return " ".join(fmt_array(to_float(a), d, limit=MATRIX_EDGE))


__all__ = ["Block", "Chart", "Document", "Graph", "GraphNode", "Heading", "Math", "Matrix", "Options", "Para", "Pre",
           "Prose", "Table", "arrow_routes", "build", "chain_blocks", "graph_picture", "matrices", "step_blocks",
           "training_pictures"]
