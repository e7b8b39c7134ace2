"""The HTML handout's pictures as inline SVG, drawn by matplotlib (``pip install 'nnlab[export]'``).

A training plot's data is :mod:`nnlab.render.plots`' (the same :class:`~nnlab.render.plots.Plot`
the lab and ``nnlab plot`` draw as text) and the graph's is the lab's layout (the
:class:`~nnlab.export.document.Graph` the TikZ picture draws); matplotlib only draws them.
It is imported here, inside :func:`plot_svg` and :func:`graph_svg`, and only for an HTML
handout: ``nnlab check`` and the other formats never load it. Nothing global is changed: the figure is a
:class:`matplotlib.figure.Figure` on the SVG canvas (no pyplot, no backend switch) and
the settings are an ``rc_context`` that ends with the drawing.

The SVG keeps its text as text (``svg.fonttype: none``: no glyph outlines, no font
file, the page's fonts draw it), writes every point of a line (no path simplification,
so the picture holds the run's numbers), has reproducible ids and no metadata, and loses
its XML prologue and namespace URLs to sit inside an HTML page that loads nothing.
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np

RC = {"svg.fonttype": "none", "svg.hashsalt": "nnlab", "path.simplify": False, "font.size": 9,
      "axes.spines.top": False, "axes.spines.right": False}
"""matplotlib settings while a plot is drawn (restored after)."""
METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
"""No metadata element (its default names matplotlib's and Dublin Core's web addresses, and the date)."""
MARKERS_UP_TO = 60
"""A line with at most this many points also marks each point."""
COLORS = {"blue": "#1f5fa8", "gray": "#8a8a8a", "green": "#2e8b3a", "red": "#c0392b", "orange": "#e08a00"}


def gid(plot_kind: str, label: str) -> str:
    """The id of a series' group in the SVG (``nnlab-loss-loss-per-epoch``): what a reader or a test looks up."""
    return "nnlab-" + re.sub(r"[^a-z0-9]+", "-", f"{plot_kind} {label}".lower()).strip("-")


def plot_svg(plot: Any) -> str:
    """``plot`` (a :class:`~nnlab.render.plots.Plot` of kind ``loss`` or ``boundary``) as an ``<svg>`` element.

    Raises:
        ImportError: matplotlib is not installed.
    """
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(6.4, 3.6 + 0.18 * len(_notes(plot))), layout="constrained")
        FigureCanvasSVG(fig)
        ax = fig.add_subplot()
        if plot.kind == "boundary":
            _boundary(ax, plot)
        else:
            _lines(ax, plot)
        ax.set_title(_plain(plot.title))
        ax.set_xlabel(_plain(plot.xlabel))
        ax.set_ylabel(_plain(plot.ylabel))
        if plot.xlim is not None:
            ax.set_xlim(*plot.xlim)
        if plot.ylim is not None:
            ax.set_ylim(*plot.ylim)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", frameon=False)
        for k, note in enumerate(_notes(plot)):  # the stop reason, what is marked: text of the picture
            fig.text(0.01, 0.01 + 0.045 * (len(_notes(plot)) - 1 - k), _plain(note), ha="left", va="bottom",
                     gid=f"nnlab-note-{k}")
        fig.get_layout_engine().set(rect=(0, 0.05 * len(_notes(plot)), 1, 1 - 0.05 * len(_notes(plot))))
        return _svg_of(fig)


def _svg_of(fig: Any) -> str:
    """The figure, saved as SVG (inside the ``rc_context`` it was drawn in), as an inline element."""
    out = io.StringIO()
    fig.savefig(out, format="svg", metadata=METADATA)
    return inline(out.getvalue())


CELL_PX = (7.0, 14.0)
"""A grid cell of the graph picture in CSS pixels at its natural size: an 11-px monospace
character (0.6 em wide in DejaVu Sans Mono, Menlo, Courier: 6.6 px) with room to spare, and a line."""
FONT_PX = 11.0
"""The size of the graph picture's text at its natural size."""
MIN_FONT_PX = 8.0
"""On screen the picture shrinks to the page's width but never below this text size: a wider
graph (the LSTM and GRU scenarios, three page widths) scrolls sideways instead, since a graph
whose labels cannot be read teaches nothing. Printed, it is scaled to fit the paper (no scrolling
there, and the vector text stays sharp in a PDF for zooming)."""
GRAPH_COLORS = {"variable": ("#e8f0fa", "#2b4c7e"), "op": ("#fff3dc", "#7a4b00"), "text": "#111111",
                "arrow": "#333333"}
"""Fill and edge of a variable's and an op's box, the text and the arrows: light fills, dark ink (prints well)."""


def graph_svg(graph: Any) -> str:
    """The computational graph (a :class:`~nnlab.export.document.Graph`) as an ``<svg>`` element.

    The lab's layout, as the TikZ picture draws it (:mod:`nnlab.export.tikz`): a box per
    node at its grid place holding its text lines (name, ``op · shape``, small values), an
    arrow per edge along the text drawing's route. One grid column is :data:`CELL_PX` wide;
    the ``viewBox`` lets the page scale it (see :data:`MIN_FONT_PX`).

    Raises:
        ImportError: matplotlib is not installed.
    """
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path

    (cw, ch), pad = CELL_PX, 0.5  # half a cell around the grid: the edge strokes are not cut
    width, height = (graph.width + 2 * pad) * cw, (graph.height + 2 * pad) * ch
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width / 72, height / 72), dpi=72)  # 1 pt of the SVG = 1 CSS px
        FigureCanvasSVG(fig)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        ax.set_xlim(-pad, graph.width + pad)
        ax.set_ylim(graph.height + pad, -pad)  # rows grow downward, as in the drawing
        for k, n in enumerate(graph.nodes):
            fill, edge = GRAPH_COLORS["variable" if n.variable else "op"]
            style = "round,pad=0,rounding_size=0.8" if n.variable else "square,pad=0"
            ax.add_patch(FancyBboxPatch((n.x, n.y), n.w, n.h, boxstyle=style, mutation_aspect=cw / ch,
                                        facecolor=fill, edgecolor=edge, linewidth=1.0 if n.variable else 1.6,
                                        clip_on=False, gid=f"nnlab-graph-node-{k}"))
            for i, line in enumerate(n.lines):  # row i + 1 of the box, from its third column, as in the text
                ax.text(n.x + 2, n.y + 1.5 + i, _plain(line), ha="left", va="center_baseline",
                        family="monospace", fontsize=FONT_PX, color=GRAPH_COLORS["text"],
                        fontweight="bold" if i == 0 else "normal", clip_on=False,
                        gid=f"nnlab-graph-node-{k}-line-{i}")
        for k, (_a, _b, route) in enumerate(graph.arrows):
            ax.add_patch(FancyArrowPatch(path=Path(route), arrowstyle="-|>,head_length=0.5,head_width=0.25",
                                         mutation_scale=10, shrinkA=0, shrinkB=0, linewidth=1.0,
                                         color=GRAPH_COLORS["arrow"], clip_on=False, gid=f"nnlab-graph-arrow-{k}"))
        svg = _svg_of(fig)
    head_end = svg.index(">")
    head = re.sub(r'\s(width|height)="[^"]*"', "", svg[:head_end])
    return (f'{head} class="nnlab-graph" width="{width:.0f}" height="{height:.0f}" '
            f'style="min-width: {min(width, width * MIN_FONT_PX / FONT_PX):.0f}px"' + svg[head_end:])


def inline(svg: str) -> str:
    """A standalone SVG document as an element for an HTML page: no XML prologue, no DOCTYPE,
    no namespace declarations (HTML knows ``<svg>`` and ``xlink:href``), no web address."""
    svg = svg[svg.index("<svg"):]
    head_end = svg.index(">")
    head = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg[:head_end])
    return head + svg[head_end:].rstrip() + "\n"


def _notes(plot: Any) -> list[str]:
    return [n.lstrip("▏ ") for n in plot.notes if n]


def _plain(text: str) -> str:
    """Text matplotlib writes as it is (a ``$`` would start its math mode)."""
    return text.replace("$", r"\$")


def _lines(ax: Any, plot: Any) -> None:
    """Loss (or mistakes) per epoch as a line, each update's loss as points, the shown epoch marked."""
    for s in plot.series:
        color = COLORS.get(s.color.rstrip("+"), None)
        xs, ys = np.asarray(s.xs, dtype=float), np.asarray(s.ys, dtype=float)
        if s.style == "scatter":
            ax.plot(xs, ys, linestyle="none", marker=".", markersize=4, color=color, label=_plain(s.label),
                    gid=gid(plot.kind, s.label))
        else:
            ax.plot(xs, ys, marker="o" if len(xs) <= MARKERS_UP_TO else None, markersize=3.5, linewidth=1.4,
                    color=color, label=_plain(s.label), gid=gid(plot.kind, s.label))
    if plot.vline is not None:
        ax.axvline(plot.vline, color=COLORS["orange"], linewidth=0.9, linestyle="--", gid=gid(plot.kind, "marked"))
    if plot.ylog:
        ax.set_yscale("log")
    ax.grid(True, linewidth=0.4, alpha=0.5)


def _boundary(ax: Any, plot: Any) -> None:
    """The region the model predicts 1 shaded, its edge drawn, and the data points by class.

    The region comes as the points of :data:`nnlab.render.plots.GRID` where the model says 1;
    they are put back on the grid (they are its exact points) for a filled contour.
    """
    from nnlab.render.plots import GRID

    region, *points = plot.series
    (x0, x1), (y0, y1) = plot.xlim, plot.ylim
    gx, gy = np.linspace(x0, x1, GRID[0]), np.linspace(y0, y1, GRID[1])
    inside = np.zeros((GRID[1], GRID[0]))
    if region.xs:
        i = np.rint((np.asarray(region.xs) - x0) / (x1 - x0) * (GRID[0] - 1)).astype(int)
        j = np.rint((np.asarray(region.ys) - y0) / (y1 - y0) * (GRID[1] - 1)).astype(int)
        inside[j, i] = 1.0
    if 0 < inside.sum() < inside.size:
        ax.contourf(gx, gy, inside, levels=[0.5, 1.5], colors=[COLORS["green"]], alpha=0.15)
        ax.contour(gx, gy, inside, levels=[0.5], colors=[COLORS["green"]], linewidths=1.2)
    elif inside.any():
        ax.axhspan(y0, y1, color=COLORS["green"], alpha=0.15)
    ax.plot([], [], linestyle="none", marker="s", markersize=8, color=COLORS["green"], alpha=0.3,
            label=_plain(region.label.replace(" (·)", "")))
    for s in points:
        one = s.label.endswith("1")
        ax.plot(np.asarray(s.xs, dtype=float), np.asarray(s.ys, dtype=float), linestyle="none", marker="o",
                markersize=8, markerfacecolor=COLORS["green"] if one else "white",
                markeredgecolor=COLORS["green"] if one else COLORS["red"], markeredgewidth=1.5,
                label=_plain(s.label), gid=gid(plot.kind, s.label))


__all__ = ["CELL_PX", "FONT_PX", "MIN_FONT_PX", "gid", "graph_svg", "inline", "plot_svg"]
