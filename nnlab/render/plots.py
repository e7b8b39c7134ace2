"""Plots where a picture says it better than numbers: loss, decision boundary, attention, gradients.

Each plot is two parts. A *data* function reads a session (the engine's run or
training) and returns a frozen :class:`Plot` — the series, the marks and the words
written on it, nothing drawn; tests compare these with the trace. :func:`draw` then
lays a :class:`Plot` out with `plotext <https://github.com/piccolomo/plotext>`_'s API,
given either the ``plotext`` module (``nnlab plot`` prints ``build()``'s text) or a
``textual_plotext.PlotextPlot``'s ``plt`` (the lab's plot pane): one drawing for both.

plotext is imported only by :func:`plot_text` and by the lab's plot pane, never by
``nnlab check``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnlab.errors import NnlabError

KINDS = ("loss", "boundary", "attention", "gradients")
"""The plot kinds, in the order the lab's plot key cycles through them."""
GRID = (48, 24)
"""Points of the decision-boundary grid (x, y)."""


@dataclass(frozen=True)
class Series:
    """One line, scatter or bar series: ``xs``/``ys`` (bars: ``labels``/``ys``)."""

    label: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    style: str = "line"        # "line" | "scatter" | "bar"
    marker: str = "braille"
    color: str = "blue"
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plot:
    """Everything one plot shows, computed from the run or training.

    Attributes:
        kind: One of :data:`KINDS`.
        title: The heading (the stop reason for ``loss``).
        xlabel: What the x axis counts.
        ylabel: What the y axis measures.
        series: The data.
        vline: An x to mark (the current epoch), or None.
        matrix: ``attention``: the weights, rows = queries; masked cells are NaN.
        notes: Lines said under the plot (what is marked, what to look for).
        ylog: Plot y on a log scale.
        xlim: The x range, when the data alone would not give it (the boundary's grid).
        ylim: The y range, likewise.
    """

    kind: str
    title: str
    xlabel: str = ""
    ylabel: str = ""
    series: tuple[Series, ...] = ()
    vline: float | None = None
    matrix: tuple[tuple[float, ...], ...] = ()
    notes: tuple[str, ...] = field(default=())
    ylog: bool = False
    xlim: tuple[float, float] | None = None
    ylim: tuple[float, float] | None = None


# ---------------------------------------------------------------------------- which


def kinds(session: Any) -> list[str]:
    """The plot kinds that apply to ``session`` (in :data:`KINDS` order)."""
    out = []
    if session.training is not None:
        out.append("loss")
        if _input_2d(session.training) is not None:
            out.append("boundary")
    if _attention_weights(session.run):
        out.append("attention")
    if session.run.target is not None and session.run.grads:
        out.append("gradients")
    return out


def make(session: Any, kind: str, update: int | None = None) -> Plot:
    """The :class:`Plot` of ``kind`` for ``session`` at training update ``update`` (None: the last).

    Raises:
        NnlabError: ``kind`` does not apply to this scenario (the message says which do).
    """
    if kind not in KINDS:
        raise NnlabError(f"unknown plot '{kind}'", hint=f"plots: {', '.join(KINDS)}.", kind="usage")
    fits = kinds(session)
    if kind not in fits:
        why = {"loss": "it needs a train: block", "boundary": "it needs training on 2-D inputs",
               "attention": "it needs an attention step", "gradients": "it needs a backward: target"}[kind]
        hint = f"this scenario has: {', '.join(fits)}." if fits else "this scenario has no plot."
        raise NnlabError(f"no '{kind}' plot here: {why}", hint=hint, kind="usage")
    return {"loss": loss_plot, "boundary": boundary_plot, "attention": attention_plot,
            "gradients": gradient_plot}[kind](session, update)


# ---------------------------------------------------------------------------- training


def stop_reason(tr: Any) -> str:
    """Why training stopped: ``converged at epoch k`` / ``cycle from epoch k, length p`` / ``epoch limit (n)``."""
    if tr.config.rule == "perceptron":
        if tr.converged:
            return f"converged at epoch {tr.first_clean_epoch} (no mistake)"
        if tr.cycle_start is not None:
            return f"cycle from epoch {tr.cycle_start}, length {tr.cycle_length}: it never converges"
    return f"epoch limit ({tr.epochs} epochs)"


def epoch_table(tr: Any) -> list[tuple[int, float | int]]:
    """``(epoch, mistakes)`` (perceptron) or ``(epoch, mean loss of its updates)`` (gd), one per epoch."""
    if tr.config.rule == "perceptron":
        return [(e + 1, m) for e, m in enumerate(tr.mistakes)]
    losses = update_losses(tr)
    ends = np.asarray(tr.epoch_end, dtype=np.int64)
    counts = np.diff(ends)
    epochs = np.flatnonzero(counts > 0)  # 0-based epochs that made updates
    if not len(epochs):
        return []
    means = np.add.reduceat(losses, ends[:-1][epochs]) / counts[epochs]  # one pass over 10,000 epochs
    return list(zip((epochs + 1).tolist(), means.tolist()))


def update_losses(tr: Any) -> np.ndarray:
    """The loss of every update's batch before the update (gd), as training recorded it."""
    return np.array([r.loss if r.loss is not None else np.nan for r in tr.records], dtype=float)


def loss_plot(session: Any, update: int | None = None) -> Plot:
    """Loss (gd) or mistakes (perceptron) per epoch, the current epoch marked, the stop reason as title."""
    tr = session.training
    rows = epoch_table(tr)
    xs = tuple(float(e) for e, _ in rows)
    ys = tuple(float(v) for _, v in rows)
    u = _update(tr, update)
    epoch = tr.records[u - 1].epoch if u else None
    what = "mistakes" if tr.config.rule == "perceptron" else "loss"
    series = [Series(f"{what} per epoch", xs, ys, "line", color="blue")]
    if tr.config.rule != "perceptron" and len(tr.records) > len(rows):  # minibatches: every update too
        lu = update_losses(tr)
        per_epoch = np.array([r.epoch for r in tr.records], dtype=float)
        frac = _within_epoch(tr)
        series.insert(0, Series("loss per update", tuple((per_epoch - 1 + frac).tolist()), tuple(lu.tolist()),
                                "scatter", "dot", "gray"))
    here = ""
    if epoch is not None:
        at = dict(rows).get(epoch)
        here = f"▏ update {u}, epoch {epoch}" + (f": {what} {_num(at)}" if at is not None else "")
    return Plot("loss", f"{what} per epoch", "epoch", what, tuple(series),
                vline=float(epoch) if epoch is not None else None,
                notes=(f"stopped: {stop_reason(tr)}", here) if here else (f"stopped: {stop_reason(tr)}",))


def _within_epoch(tr: Any) -> np.ndarray:
    ends = np.asarray(tr.epoch_end, dtype=np.int64)
    n = len(tr.records)
    idx = np.arange(n)
    e = np.array([r.epoch for r in tr.records], dtype=np.int64)
    lo, hi = ends[e - 1], ends[e]
    return (idx - lo + 1) / np.maximum(1, hi - lo)


def _update(tr: Any, update: int | None) -> int:
    n = len(tr.records)
    if not n:
        return 0
    if update is None:
        return n
    if not 1 <= update <= n:
        raise NnlabError(f"--update {update}: training made {n} update(s)", hint=f"use 1 to {n}.", kind="usage")
    return update


def _input_2d(tr: Any) -> tuple[str, str] | None:
    """``(input, label)`` data names if training reads one 2-feature input and a label."""
    label = tr.config.target
    if label is None:  # gd: the loss's second input
        loss = tr.graph.nodes.get(tr.config.loss) if tr.config.loss else None
        ins = [i for i in (loss.op_inputs if loss is not None else ()) if i]
        label = ins[1] if len(ins) > 1 else None
    inputs = [n for n in tr.scenario.data if n != label]
    if label is None or label not in tr.scenario.data or len(inputs) != 1:
        return None
    shape = tr.graph.nodes[inputs[0]].shape
    return (inputs[0], label) if tuple(shape) == (2,) else None


def _prediction(tr: Any) -> str | None:
    if tr.config.predict:
        return tr.config.predict
    loss = tr.graph.nodes.get(tr.config.loss) if tr.config.loss else None
    ins = [i for i in (loss.op_inputs if loss is not None else ()) if i]
    return ins[0] if ins else None


def boundary_plot(session: Any, update: int | None = None) -> Plot:
    """The data points by class and where the model's prediction crosses 0.5, at update ``update``.

    The region is the model itself evaluated on a grid (the graph run forward with
    the parameters after that update), so it is the perceptron's line or an MLP's
    curved region alike.
    """
    from nnlab.engine.run import run_graph, to_float

    tr = session.training
    x_name, y_name = _input_2d(tr)
    pred = _prediction(tr)
    u = _update(tr, update)
    X = to_float(tr.graph.nodes[x_name].value).reshape(-1, 2)
    Y = to_float(tr.graph.nodes[y_name].value).reshape(len(X), -1)[:, 0]
    lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], GRID[0]), np.linspace(lo[1], hi[1], GRID[1]))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    leaves = tr.leaves_at(u, (0,))
    leaves = {k: to_float(v) for k, v in leaves.items() if k not in tr.scenario.data}  # exact → float64
    leaves[x_name] = grid.astype(float)
    leaves[y_name] = np.zeros((len(grid),) + tuple(tr.graph.nodes[y_name].shape))
    run = run_graph(tr.graph, leaves, target=None, record=False, arithmetic="float64", check_finite=False)
    p = to_float(run.values[pred]).reshape(len(grid), -1)[:, 0]
    cut = 0.5 if tr.config.rule != "perceptron" or set(np.unique(Y)) <= {0.0, 1.0} else 0.0
    inside = p > cut
    # the region predicted 1 is dotted, the rest left blank: readable without colour too
    series = [Series("predicts 1 (·)", tuple(grid[inside, 0]), tuple(grid[inside, 1]), "scatter", "·", "green")]
    for cls, color, marker in ((1.0, "green+", "●"), (0.0, "red+", "○")):
        pts = X[Y == cls] if cls == 1.0 else X[Y != 1.0]
        series.append(Series(f"class {int(cls)}", tuple(pts[:, 0]), tuple(pts[:, 1]), "scatter", marker, color))
    wrong = int(np.sum((_predict_at(run, pred, X, tr, leaves, x_name, y_name) > cut) != (Y == 1.0)))
    where = f"after update {u}" if u else "before training"
    epoch = tr.records[u - 1].epoch if u else 0
    notes = (f"{where} (epoch {epoch}): {wrong} of {len(X)} point(s) on the wrong side",
             f"stopped: {stop_reason(tr)}")
    return Plot("boundary", f"decision regions {where}", x_name + "[0]", x_name + "[1]", tuple(series), notes=notes,
                xlim=(float(lo[0]), float(hi[0])), ylim=(float(lo[1]), float(hi[1])))


def _predict_at(run: Any, pred: str, X: np.ndarray, tr: Any, leaves: dict, x_name: str, y_name: str) -> np.ndarray:
    from nnlab.engine.run import run_graph, to_float

    pts = dict(leaves)
    pts[x_name] = X.astype(float)
    pts[y_name] = np.zeros((len(X),) + tuple(tr.graph.nodes[y_name].shape))
    r = run_graph(tr.graph, pts, target=None, record=False, arithmetic="float64", check_finite=False)
    return to_float(r.values[pred]).reshape(len(X), -1)[:, 0]


# ---------------------------------------------------------------------------- one run


def _attention_weights(run: Any) -> list[str]:
    """Nodes holding attention weights: a softmax over the output of an ``attention_scores`` step."""
    scores = {s.node for s in run.steps if s.phase == "forward" and s.op == "attention_scores"}
    return [s.node for s in run.steps if s.phase == "forward" and s.op == "softmax" and set(s.inputs) & scores]


def attention_plot(session: Any, update: int | None = None) -> Plot:
    """The first attention's weights as a heat map (rows = queries, columns = keys); masked cells are NaN."""
    from nnlab.engine.run import to_float

    run = session.run
    node = _attention_weights(run)[0]
    w = to_float(run.values[node])[0]
    w = w.reshape(-1, w.shape[-1]) if w.ndim >= 2 else w.reshape(1, -1)
    masked = np.zeros(w.shape, dtype=bool)
    if dict(run.op(node).params).get("mask") == "causal":  # key j after query i is masked (weight exactly 0)
        masked = np.triu(np.ones(w.shape, dtype=bool), k=1)
    shown = np.where(masked, np.nan, w)
    name = run.graph.display(node)
    n = int(masked.sum())
    notes = (f"{name}: row i = query i, column j = key j; each row sums to 1",
             f"{n} masked cell(s) ✕ (causal: key j > query i gets weight 0)" if n else "no masked cells")
    return Plot("attention", f"attention weights {name}", "key j", "query i",
                matrix=tuple(tuple(float(v) for v in row) for row in shown), notes=notes)


SHADES = " ░▒▓█"
"""Heat-map shades from 0 to 1 (so the map reads without colour too)."""


def heatmap_lines(plot: Plot, digits: int = 2) -> list[str]:
    """The attention matrix as text: one row per query, each cell a shade and the weight; ✕ = masked."""
    m = np.array(plot.matrix, dtype=float)
    width = digits + 3
    head = "      " + "".join(f"key {j}".center(width + 2) for j in range(m.shape[1]))
    lines = [head]
    for i, row in enumerate(m):
        cells = []
        for v in row:
            if np.isnan(v):
                cells.append("✕".center(width + 2))
            else:
                shade = SHADES[min(len(SHADES) - 1, int(round(v * (len(SHADES) - 1))))]
                cells.append(f"{shade}{v:.{digits}f}".rjust(width + 1) + " ")
        lines.append(f"q {i:<3} " + "".join(cells))
    return lines


def gradient_plot(session: Any, update: int | None = None) -> Plot:
    """The size of the gradient at each node, in the order backward reaches them (log scale).

    The size is the root mean square of ∂target/∂node's elements: 0.25ⁿ across n
    sigmoid layers shows as a straight line going down.
    """
    from nnlab.engine.run import to_float

    run = session.run
    if session.training is not None and update is not None:
        run = session.training.update_run(_update(session.training, update))
    names, sizes = [], []
    seen = set()
    for s in run.steps:
        if s.phase != "backward":
            continue
        for nid in (s.node,) + tuple(s.inputs):
            node = run.graph.nodes.get(nid) if nid else None
            if node is None or nid in seen or nid not in run.grads or node.kind == "const" or node.is_temp:
                continue
            seen.add(nid)
            g = to_float(run.grads[nid])
            names.append(run.graph.display(nid))
            sizes.append(float(np.sqrt(np.mean(np.square(g)))) if g.size else 0.0)
    T = run.target
    small = [f"{n} {_num(v)}" for n, v in zip(names, sizes)]
    notes = (f"rms of ∂{T}/∂node, from {T} back to the inputs", "  ".join(small))
    return Plot("gradients", f"gradient size per node (∂{T}/∂·, rms)", "node (backward order)", "rms", (
        Series("rms gradient", tuple(range(len(names))), tuple(sizes), "bar", labels=tuple(names)),),
        notes=notes, ylog=bool(sizes) and min(sizes) > 0 and max(sizes) / max(min(sizes), 1e-300) > 100)


def _num(v: Any) -> str:
    from nnlab.numfmt import fmt

    return fmt(v, 4) if isinstance(v, float) else str(v)


# ---------------------------------------------------------------------------- drawing


def draw(plt: Any, plot: Plot, width: int | None = None, height: int | None = None) -> None:
    """Lay ``plot`` out with plotext's API on ``plt`` (the module, or a PlotextPlot's ``plt``)."""
    plt.clear_figure() if hasattr(plt, "clear_figure") else plt.clear_data()
    if width and height:
        plt.plotsize(width, height)
    plt.title(plot.title)
    if plot.kind == "attention":
        _draw_matrix(plt, plot)
        return
    if plot.xlabel:
        plt.xlabel(plot.xlabel)
    if plot.ylabel:
        plt.ylabel(plot.ylabel)
    for s in plot.series:
        if s.style == "bar":  # a line with markers: plotext's bars cannot stand on a log axis
            pts = [(x, y) for x, y in zip(s.xs, s.ys) if y > 0 or not plot.ylog]
            if pts:
                plt.plot([x for x, _ in pts], [y for _, y in pts], marker="●", color=s.color, label=s.label)
            plt.xticks(list(s.xs), list(s.labels))
        elif s.style == "scatter":
            if s.xs:
                plt.scatter(list(s.xs), list(s.ys), marker=s.marker, color=s.color, label=s.label)
        elif s.xs:
            plt.plot(list(s.xs), list(s.ys), marker=s.marker, color=s.color, label=s.label)
    if plot.ylog:
        plt.yscale("log")
    if plot.xlim is not None:
        plt.xlim(*plot.xlim)
    if plot.ylim is not None:
        plt.ylim(*plot.ylim)
    if plot.vline is not None:
        plt.vline(plot.vline, "orange")


def _draw_matrix(plt: Any, plot: Plot) -> None:
    """Heat map of the weights with plotext; masked cells drawn as 0 (the notes and text grid mark them)."""
    m = np.array(plot.matrix, dtype=float)
    plt.matrix_plot(np.where(np.isnan(m), 0.0, m).tolist())


def plot_text(plot: Plot, width: int = 80, height: int = 24, color: bool = False) -> str:
    """The plot as terminal text (``nnlab plot``): plotext's drawing, then its notes."""
    if plot.kind == "attention":  # a grid of numbers says more than colours on a 3×3 map
        return "\n".join([plot.title, *heatmap_lines(plot), *[n for n in plot.notes if n]]) + "\n"
    import plotext as plt

    draw(plt, plot, width, max(8, height - len(plot.notes)))
    if not color:
        plt.theme("clear")
    text = plt.build()
    if not color:
        text = plt.uncolorize(text)
    plt.clear_figure()
    return text.rstrip() + "\n" + "\n".join(n for n in plot.notes if n) + "\n"
