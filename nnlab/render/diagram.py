"""The computational graph drawn as text: boxes for variables and operations, arrows for edges.

One drawing serves ``nnlab graph`` (printed) and the lab's graph view (painted by
:mod:`nnlab.tui.widgets.diagram`), so both show the same picture. It is made in
three stages, each a pure function:

1. :func:`diagram_of` — which boxes and arrows: every name the user can write (a value,
   a data column, a compute line, a composite's part such as ``A.weights``) is a box;
   an unnamed sub-expression (``H @ W1`` inside ``U = relu(H @ W1 + b1)``) is drawn
   inside the box of its line, and written numbers (``2`` in ``2 * x``) are left out.
2. :func:`draw` — where: a layered (Sugiyama) layout from grandalf orders the boxes
   top-down with few crossings; this module turns it into a character grid, gives
   every arrow its own port on a box and its own row ("track") where it runs
   sideways, and remembers which cells belong to which box and arrow.
3. :func:`frame_at` and :func:`paint_row` — what a step looks like: the step's box
   and arrows lit, boxes not computed yet dimmed, small values (forward) or gradients
   (backward) written inside the boxes. Painting is per row, so a widget repaints
   only what it shows.

Plain text stays readable without colour: the lit box is drawn with heavy lines
(``┏━┓``), the box a backward step passes through with double lines (``╔═╗``), a
box not computed yet with dashed lines (``┌╌┐``); variables have round corners,
operations square ones.

Only the standard library is imported here at module level: the lab imports this
module before NumPy is loaded; grandalf, NumPy and the engine are imported by the
functions that need them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# the roles a painted cell can have (a view maps each to a style): in their own module for the lab
from nnlab.render.roles import (
    BLANK,
    DIM,
    EDGE,
    EDGE_DIM,
    EDGE_LIT,
    LIT,
    LIT_NAME,
    META,
    NAME,
    NODE,
    ROLES,
    SOURCE,
    SOURCE_NAME,
    VALUE,
)

MAX_BOX_WIDTH = 30
"""Widest box (characters, borders included); longer lines are cut with ``…``."""
MAX_VALUE_ROWS = 3
"""A matrix with more rows than this shows no numbers (its shape says enough)."""
MAX_VALUE_COLUMNS = 6
"""A vector or matrix row with more elements than this shows no numbers."""
X_SPACE = 2
"""Columns between neighbouring boxes (and arrows) of one layer."""

HEAVY = str.maketrans("─│┌┐└┘╭╮╰╯┬┴├┤┼", "━┃┏┓┗┛┏┓┗┛┳┻┣┫╋")
DOUBLE = str.maketrans("─│┌┐└┘╭╮╰╯┬", "═║╔╗╚╝╔╗╚╝╦")
DASHED = str.maketrans("─│", "╌╎")

# box-drawing glyph from the directions a line leaves a cell: up, down, left, right
_UP, _DOWN, _LEFT, _RIGHT = 1, 2, 4, 8
_GLYPH = {_UP | _DOWN: "│", _LEFT | _RIGHT: "─", _DOWN | _RIGHT: "╭", _DOWN | _LEFT: "╮", _UP | _RIGHT: "╰",
          _UP | _LEFT: "╯", _UP | _DOWN | _LEFT | _RIGHT: "┼", _UP | _DOWN | _RIGHT: "├",
          _UP | _DOWN | _LEFT: "┤", _DOWN | _LEFT | _RIGHT: "┬", _UP | _LEFT | _RIGHT: "┴", _UP: "│",
          _DOWN: "│", _LEFT: "─", _RIGHT: "─"}


# ---------------------------------------------------------------------------- what is drawn
@dataclass(frozen=True)
class Box:
    """One box of the drawing: a name the user can write.

    Attributes:
        id: The graph node id it shows (``"z1"``, ``"A.weights"``).
        kind: ``"param"`` (a value under ``learn:``), ``"value"``, ``"data"`` or ``"op"``.
        op: What computes it: the op's name, with the ops of its line's unnamed
            sub-expressions inside (``"relu(affine)"``); the kind for leaves.
        shape: The per-example shape as text (``"2×3"``, ``"scalar"``).
        members: The graph nodes drawn in this box: the node and its line's temporaries.
    """

    id: str
    kind: str
    op: str
    shape: str
    members: tuple[str, ...]

    @property
    def variable(self) -> bool:
        """A leaf (value, parameter or data): drawn with round corners."""
        return self.kind != "op"


@dataclass(frozen=True)
class Diagram:
    """The boxes (in graph order) and arrows of a graph.

    Attributes:
        boxes: Box id -> box.
        edges: ``(from, to)`` box ids, each once, in graph order.
        owner: Graph node id -> the id of the box it is drawn in (constants are absent).
    """

    boxes: dict[str, Box]
    edges: tuple[tuple[str, str], ...]
    owner: dict[str, str]

    def edges_into(self, node: str, inputs: Iterable[str]) -> set[tuple[str, str]]:
        """The arrows from ``inputs``' boxes into ``node``'s box (the ones a step of ``node`` uses)."""
        to = self.owner.get(node)
        return {(self.owner[i], to) for i in inputs if i in self.owner and self.owner[i] != to and to}


def shape_text(shape: tuple[int, ...]) -> str:
    """``(2, 3)`` -> ``"2×3"``, ``()`` -> ``"scalar"``."""
    return "×".join(str(s) for s in shape) if shape else "scalar"


def diagram_of(graph: Any) -> Diagram:
    """The boxes and arrows of an engine :class:`~nnlab.engine.graph.Graph`.

    A temporary (an unnamed sub-expression, id ``"U#1"``) belongs to the box of its
    line (``"U"``): the arrows into it become arrows into that box, and its op is
    written inside the box's op (``relu(affine)``).
    """
    learn = set(getattr(graph.scenario, "learn", ()) or ())
    owner: dict[str, str] = {}
    for nid, node in graph.nodes.items():
        if node.visible:
            owner[nid] = nid
        elif node.is_temp:
            line = nid.split("#", 1)[0]
            owner[nid] = line if line in graph.nodes else nid
    members: dict[str, list[str]] = {}
    for nid, box in owner.items():
        members.setdefault(box, []).append(nid)
    boxes: dict[str, Box] = {}
    for bid in members:
        node = graph.nodes[bid]
        if node.kind == "op":
            op = _op_text(graph, bid, set(members[bid]))
            kind = "op"
        else:
            kind = "data" if node.kind == "data" else "param" if bid in learn else "value"
            op = kind
        boxes[bid] = Box(bid, kind, op, shape_text(tuple(node.shape)), tuple(members[bid]))
    edges: dict[tuple[str, str], None] = {}
    for nid in graph.order:
        to = owner.get(nid)
        for inp in graph.nodes[nid].inputs:
            src = owner.get(inp)
            if to is not None and src is not None and src != to:
                edges[(src, to)] = None
    return Diagram(boxes, tuple(edges), owner)


def _op_text(graph: Any, nid: str, inside: set[str]) -> str:
    """``relu(affine)``: the op of ``nid`` with the ops of the temporaries it is built from."""
    node = graph.nodes[nid]
    parts = [_op_text(graph, i, inside) for i in node.inputs if i in inside and i != nid]
    return f"{node.op.name}({', '.join(parts)})" if parts else node.op.name


# ---------------------------------------------------------------------------- where it is drawn
@dataclass(frozen=True)
class Placed:
    """A box's place on the grid: left column, top row, width and height."""

    x: int
    y: int
    w: int
    h: int

    def __contains__(self, cell: tuple[int, int]) -> bool:
        x, y = cell
        return self.x <= x < self.x + self.w and self.y <= y < self.y + self.h


@dataclass
class Drawing:
    """A diagram laid out on a character grid (static: the same for every step).

    Attributes:
        diagram: What is drawn.
        names_only: True for the collapsed form (one line per box: its name).
        width, height: The grid's size in cells.
        rows: The static text of each row (borders, names, ops, arrows).
        boxes: Box id -> where it is.
        box_cells: Per row, ``(x0, x1, box id, zone)`` runs; zone is ``"border"``,
            ``"name"``, ``"meta"`` or ``"value"``.
        edge_cells: Per row, ``x -> ((edge index, directions), …)`` for the cells arrows use.
        value_slots: Box id -> ``(x, y, width, rows)`` of the area where numbers go.
        seconds: How long the layout took.
    """

    diagram: Diagram
    names_only: bool
    width: int
    height: int
    rows: list[str]
    boxes: dict[str, Placed]
    box_cells: list[list[tuple[int, int, str, str]]]
    edge_cells: list[dict[int, tuple[tuple[int, int], ...]]]
    value_slots: dict[str, tuple[int, int, int, int]]
    seconds: float = 0.0
    _index: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)
    _rows_of_edges: list[tuple[int, int]] = field(default_factory=list, repr=False)

    def edge_index(self, edge: tuple[str, str]) -> int | None:
        """The index of arrow ``edge`` (``(from, to)``) in :attr:`Diagram.edges`."""
        if not self._index:
            self._index.update({e: k for k, e in enumerate(self.diagram.edges)})
        return self._index.get(edge)

    def edge_rows(self) -> list[tuple[int, int]]:
        """For each arrow, the first and last row it uses."""
        if not self._rows_of_edges:
            span: dict[int, list[int]] = {}
            for y, row in enumerate(self.edge_cells):
                for passing in row.values():
                    for k, _ in passing:
                        span.setdefault(k, [y, y])[1] = y
            self._rows_of_edges.extend(tuple(span.get(k, (0, -1))) for k in range(len(self.diagram.edges)))
        return self._rows_of_edges

    def changed_rows(self, old: Frame, new: Frame) -> set[int]:
        """The rows that look different in frame ``new`` than in ``old`` (to repaint only those)."""
        boxes = (old.lit ^ new.lit) | (old.source ^ new.source) | (old.dim ^ new.dim)
        boxes |= {b for b in old.values.keys() | new.values.keys() if old.values.get(b) != new.values.get(b)}
        edges = set(old.lit_edges ^ new.lit_edges)
        edges |= {k for k, (a, b) in enumerate(self.diagram.edges) if a in boxes or b in boxes}
        rows: set[int] = set()
        for b in boxes:
            p = self.boxes.get(b)
            if p is not None:
                rows.update(range(p.y, p.y + p.h))
        spans = self.edge_rows()
        for k in edges:
            rows.update(range(spans[k][0], spans[k][1] + 1))
        return rows

    def box_at(self, x: int, y: int) -> str | None:
        """The id of the box covering cell ``(x, y)``, if any."""
        if 0 <= y < self.height:
            for x0, x1, bid, _zone in self.box_cells[y]:
                if x0 <= x < x1:
                    return bid
        return None


def box_lines(box: Box, values: Sequence[str] = ()) -> list[str]:
    """The text lines inside a full box: name, ``op · shape``, then the numbers."""
    return [box.id, f"{box.op} · {box.shape}", *values]


FORMS = ("full", "boxes", "names")
"""The forms of a drawing: with numbers, boxes without numbers, names only (the collapsed form)."""


def draw(diagram: Diagram, *, names_only: bool = False,
         value_rows: dict[str, Sequence[str]] | None = None) -> Drawing:
    """Lay ``diagram`` out top-down on a character grid.

    Args:
        diagram: From :func:`diagram_of`.
        names_only: The collapsed form: each box is its name on one line, no border.
        value_rows: Box id -> the number lines the box must have room for (the widest
            of its values and gradients); boxes without an entry get no number rows.

    Returns:
        The :class:`Drawing`; ``seconds`` says how long the layout took.
    """
    form = "names" if names_only else "full"
    return draw_forms(diagram, value_rows, (form,))[form]


def draw_forms(diagram: Diagram, value_rows: dict[str, Sequence[str]] | None = None,
               forms: Sequence[str] = FORMS) -> dict[str, Drawing]:
    """Lay out several forms (:data:`FORMS`) of ``diagram`` at once.

    The layers and the order within them (the slow part of a layered layout) are
    worked out once and shared; only the columns differ with the boxes' widths.
    ``"boxes"`` ignores ``value_rows``. Each drawing's ``seconds`` is the time from the
    start to its completion.
    """
    import time

    t0 = time.perf_counter()
    value_rows = value_rows or {}
    degree = {b: 0 for b in diagram.boxes}
    into = {b: 0 for b in diagram.boxes}
    for a, b in diagram.edges:
        degree[a] += 1
        into[b] += 1
    sizes: list[dict[str, tuple[int, int]]] = []
    for form in forms:
        size: dict[str, tuple[int, int]] = {}
        for bid, box in diagram.boxes.items():
            ports = max(degree[bid], into[bid])
            if form == "names":
                size[bid] = (max(len(bid) + 2, 2 * ports - 1), 1)
            else:
                lines = box_lines(box, value_rows.get(bid, ()) if form == "full" else ())
                w = min(MAX_BOX_WIDTH, max(len(s) for s in lines) + 4)
                size[bid] = (max(w, 2 * ports + 1), len(lines) + 2)
        sizes.append(size)
    out: dict[str, Drawing] = {}
    for form, size, (layers, xs) in zip(forms, sizes, _sugiyama(diagram, sizes)):
        rows = value_rows if form == "full" else {}
        out[form] = _Grid(diagram, size, layers, xs, form == "names", rows).finish()
        out[form].seconds = time.perf_counter() - t0
    return out


def _sugiyama(diagram: Diagram, sizes: list[dict[str, tuple[int, int]]]) -> list[tuple[list[list[Any]], dict[Any, float]]]:
    """For each set of box sizes: the layers (top to bottom; each a left-to-right list of box
    ids and dummy points) and the centre x of each.

    grandalf lays out each connected part of the graph (ranks, dummy points for long
    arrows, crossing reduction: once; coordinates: once per set of sizes); the parts
    are put side by side. A dummy point is ``(edge, layer)``: where a long arrow
    crosses a layer.
    """
    from grandalf.graphs import Edge, Vertex, graph_core
    from grandalf.layouts import SugiyamaLayout

    class View:
        def __init__(self, w: float, h: float) -> None:
            self.w, self.h, self.xy = w, h, (0.0, 0.0)

    vertex = {bid: Vertex(bid) for bid in diagram.boxes}
    for bid, v in vertex.items():
        v.view = View(*sizes[0][bid])
    edge_of: dict[Any, tuple[str, str]] = {}
    results: list[tuple[list[list[Any]], dict[Any, float]]] = [([], {}) for _ in sizes]
    offsets = [0.0] * len(sizes)
    order = {bid: k for k, bid in enumerate(diagram.boxes)}
    for boxes, arrows in _parts(diagram):
        # grandalf's own Graph gathers a part's edges in a set (hash order: a different layout
        # each run); a graph_core per part, vertices and edges in graph order, keeps it reproducible
        edges = []
        for e in arrows:
            ge = Edge(vertex[e[0]], vertex[e[1]])
            edge_of[ge] = e
            edges.append(ge)
        part = graph_core([vertex[b] for b in boxes], edges)
        sug = SugiyamaLayout(part)
        sug.xspace, sug.yspace = X_SPACE, 1
        sug.dw, sug.dh = 1, 1
        roots = sorted((v for v in part.sV if not v.e_in()), key=lambda v: order[v.data])
        sug.init_all(roots=roots, optimize=True)
        for rounds in range(3):  # what SugiyamaLayout.draw(3) does, without its coordinates
            for _ in sug.ordering_step():
                pass
        dummy: dict[Any, Any] = {}
        for ge, ctrl in sug.ctrls.items():
            for r, dv in ctrl.items():
                if not hasattr(dv, "data"):
                    dummy[dv] = (edge_of[ge], r)
        for k, size in enumerate(sizes):
            for v in part.sV:
                v.view.w, v.view.h = size[v.data]
            sug.setxy()
            layers, xs = results[k]
            left = min((v.view.xy[0] - v.view.w / 2 for layer in sug.layers for v in layer), default=0.0)
            right = offsets[k]
            for r, layer in enumerate(sug.layers):
                while len(layers) <= r:
                    layers.append([])
                for v in sorted(layer, key=lambda v: v.view.xy[0]):
                    key = v.data if hasattr(v, "data") else dummy[v]
                    x = v.view.xy[0] - left + offsets[k]
                    layers[r].append(key)
                    xs[key] = x
                    right = max(right, x + v.view.w / 2)
            offsets[k] = right + X_SPACE + 1
    return results


def _parts(diagram: Diagram) -> list[tuple[list[str], list[tuple[str, str]]]]:
    """The connected parts of the diagram (boxes and arrows, in graph order), first box first."""
    part = {b: b for b in diagram.boxes}

    def find(b: str) -> str:
        while part[b] != b:
            part[b] = part[part[b]]
            b = part[b]
        return b

    for a, b in diagram.edges:
        part[find(a)] = find(b)
    groups: dict[str, tuple[list[str], list[tuple[str, str]]]] = {}
    for b in diagram.boxes:
        groups.setdefault(find(b), ([], []))[0].append(b)
    for e in diagram.edges:
        groups[find(e[0])][1].append(e)
    return list(groups.values())


class _Grid:
    """Turns layers and centre coordinates into rows of characters (used once by :func:`draw`)."""

    def __init__(self, diagram: Diagram, sizes: dict[str, tuple[int, int]], layers: list[list[Any]],
                 xs: dict[Any, float], names_only: bool, value_rows: dict[str, Sequence[str]]) -> None:
        self.d, self.sizes, self.layers, self.names_only = diagram, sizes, layers, names_only
        self.value_rows = value_rows
        self.left: dict[Any, int] = {}
        for layer in layers:  # integer columns, keeping at least X_SPACE - 1 free columns between neighbours
            edge = -X_SPACE
            for key in layer:
                w = self.width(key)
                x = max(int(round(xs[key] - w / 2)), edge + X_SPACE)
                self.left[key] = x
                edge = x + w
        shift = -min(self.left.values(), default=0)
        for key in self.left:
            self.left[key] += shift
        self.rank = {key: r for r, layer in enumerate(layers) for key in layer}
        self.outs: dict[str, list[tuple[str, str]]] = {}
        for e in diagram.edges:
            self.outs.setdefault(e[0], []).append(e)
        self._straighten()
        self.ports_out, self.ports_in = self._ports()

    def _straighten(self) -> None:
        """Move a box with one arrow in sideways by a column or two where that makes the arrow straight
        (the layout's centres are rounded to whole columns, so a chain of boxes can zig-zag)."""
        ins: dict[str, list[tuple[str, str]]] = {}
        for e in self.d.edges:
            ins.setdefault(e[1], []).append(e)
        for layer in self.layers[1:]:
            self.ports_out, self.ports_in = self._ports()
            for k, key in enumerate(layer):
                if not isinstance(key, str) or len(ins.get(key, ())) != 1:
                    continue
                e = ins[key][0]
                chain = self._chain(e)
                came = self.ports_out[e] if len(chain) == 2 else self.left[chain[-2]]
                delta = came - self.ports_in[e]
                x, w = self.left[key], self.width(key)
                lo = self.left[layer[k - 1]] + self.width(layer[k - 1]) + X_SPACE if k else -(1 << 30)
                hi = self.left[layer[k + 1]] - X_SPACE if k + 1 < len(layer) else 1 << 30
                if 0 < abs(delta) <= 2 and lo <= x + delta and x + delta + w <= hi:
                    self.left[key] = x + delta

    def width(self, key: Any) -> int:
        return self.sizes[key][0] if isinstance(key, str) else 1

    def height(self, key: Any) -> int:
        return self.sizes[key][1] if isinstance(key, str) else 1

    def _chain(self, e: tuple[str, str]) -> list[Any]:
        r0, r1 = self.rank[e[0]], self.rank[e[1]]
        return [e[0], *((e, r) for r in range(r0 + 1, r1)), e[1]]

    def _ports(self) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
        """Every arrow's column where it leaves its source box and where it enters its target box."""
        outs: dict[str, list[tuple[float, tuple[str, str]]]] = {}
        ins: dict[str, list[tuple[float, tuple[str, str]]]] = {}
        for e in self.d.edges:
            chain = self._chain(e)
            nxt, prev = chain[1], chain[-2]
            outs.setdefault(e[0], []).append((self._centre(nxt), e))
            ins.setdefault(e[1], []).append((self._centre(prev), e))
        ports_out = {e: col for bid, es in outs.items() for e, col in self._spread(bid, es)}
        ports_in = {e: col for bid, es in ins.items() for e, col in self._spread(bid, es)}
        for bid, es in ins.items():  # enter straight below where an arrow comes from, where that keeps the order
            order = [e for _, e in sorted(es)]
            lo, hi = self._edge_span(bid)
            for k, e in enumerate(order):
                chain = self._chain(e)
                came = ports_out[e] if len(chain) == 2 else self.left[chain[-2]]
                before = ports_in[order[k - 1]] if k else lo - 1
                after = ports_in[order[k + 1]] if k + 1 < len(order) else hi + 1
                if before < came < after:
                    ports_in[e] = came
        return ports_out, ports_in

    def _edge_span(self, bid: str) -> tuple[int, int]:
        """First and last column an arrow may use on a box's top or bottom edge (not the corners)."""
        x, w = self.left[bid], self.width(bid)
        return (x, x + w - 1) if self.names_only else (x + 1, x + w - 2)

    def _centre(self, key: Any) -> float:
        return self.left[key] + (self.width(key) - 1) / 2

    def _spread(self, bid: str, es: list[tuple[float, tuple[str, str]]]) -> list[tuple[tuple[str, str], int]]:
        """Distinct columns along a box's edge for its arrows, ordered like the boxes they lead to."""
        es = sorted(es)
        x, w = self.left[bid], self.width(bid)
        lo, hi = self._edge_span(bid)
        n = len(es)
        if n == 1:
            return [(es[0][1], x + (w - 1) // 2)]
        span = hi - lo
        cols = [lo + round(span * (k + 0.5) / n) for k in range(n)] if span + 1 >= 2 * n - 1 else \
            [lo + k for k in range(n)]
        return [(e, c) for (_, e), c in zip(es, cols)]

    def finish(self) -> Drawing:
        band = [max((self.height(k) for k in layer), default=1) for layer in self.layers]
        # route the arrows between each pair of layers first: the tracks they need decide the gaps
        gaps: list[list[tuple[int, int, int, int]]] = []  # per gap: (edge index, x from, x to, track)
        tracks: list[int] = []
        index = {e: k for k, e in enumerate(self.d.edges)}
        segments: list[list[tuple[int, int, int, bool]]] = [[] for _ in self.layers]
        for e in self.d.edges:
            chain = self._chain(e)
            for a, b in zip(chain, chain[1:]):
                xa = self.ports_out[e] if isinstance(a, str) else self.left[a]
                xb = self.ports_in[e] if isinstance(b, str) else self.left[b]
                segments[self.rank[a]].append((index[e], xa, xb, isinstance(b, str)))
        for segs in segments:
            routed, n = _tracks([(k, xa, xb) for k, xa, xb, _ in segs])
            gaps.append(routed)
            tracks.append(n)
        into_box = [{(k, xa, xb) for k, xa, xb, box in segs if box} for segs in segments]  # arrow heads
        top = []
        y = 0
        for r in range(len(self.layers)):
            top.append(y)
            y += band[r] + (tracks[r] + 1 if r < len(self.layers) - 1 else 0)
        height = y
        width = max((self.left[k] + self.width(k) for k in self.left), default=0)
        canvas = [[" "] * width for _ in range(height)]
        dirs: list[dict[int, dict[int, int]]] = [{} for _ in range(height)]  # row -> x -> edge -> dirs

        def line(k: int, x: int, y0: int, y1: int) -> None:  # vertical, rows y0..y1
            for yy in range(y0, y1 + 1):
                d = (_UP if yy > y0 else 0) | (_DOWN if yy < y1 else 0)
                dirs[yy].setdefault(x, {})
                dirs[yy][x][k] = dirs[yy][x].get(k, 0) | d

        def link(k: int, x: int, y: int, d: int) -> None:
            dirs[y].setdefault(x, {})
            dirs[y][x][k] = dirs[y][x].get(k, 0) | d

        for r, layer in enumerate(self.layers):
            y0 = top[r]
            for key in layer:
                if isinstance(key, tuple):  # a long arrow passing through this layer
                    line(index[key[0]], self.left[key], y0, y0 + band[r] - 1)
                    link(index[key[0]], self.left[key], y0, _UP)
                    link(index[key[0]], self.left[key], y0 + band[r] - 1, _DOWN)
            if r == len(self.layers) - 1:
                continue
            g0, n = y0 + band[r], tracks[r]
            for key in layer:  # stubs from short boxes down to the bottom of the band
                if isinstance(key, str) and y0 + self.height(key) < g0:
                    bottom = y0 + self.height(key)
                    for e in self.outs.get(key, ()):
                        line(index[e], self.ports_out[e], bottom, g0 - 1)
                        link(index[e], self.ports_out[e], bottom, _UP)
                        link(index[e], self.ports_out[e], g0 - 1, _DOWN)
            for k, xa, xb, t in gaps[r]:
                last = g0 + n
                if xa == xb:
                    line(k, xa, g0, last)
                    link(k, xa, g0, _UP)
                else:
                    ty = g0 + t
                    line(k, xa, g0, ty)
                    link(k, xa, g0, _UP)
                    step = 1 if xb > xa else -1
                    link(k, xa, ty, _RIGHT if step > 0 else _LEFT)
                    for x in range(xa + step, xb, step):
                        link(k, x, ty, _LEFT | _RIGHT)
                    link(k, xb, ty, _LEFT if step > 0 else _RIGHT)
                    line(k, xb, ty, last)
                if (k, xa, xb) in into_box[r]:
                    canvas[last][xb] = "▼"
                else:
                    link(k, xb, last, _DOWN)
        edge_cells: list[dict[int, tuple[tuple[int, int], ...]]] = [{} for _ in range(height)]
        for yy, row in enumerate(dirs):
            for x, by_edge in row.items():
                bits = 0
                for d in by_edge.values():
                    bits |= d
                if canvas[yy][x] != "▼":
                    canvas[yy][x] = _GLYPH.get(bits, "┼")
                edge_cells[yy][x] = tuple(by_edge.items())
        box_cells: list[list[tuple[int, int, str, str]]] = [[] for _ in range(height)]
        boxes: dict[str, Placed] = {}
        slots: dict[str, tuple[int, int, int, int]] = {}
        for r, layer in enumerate(self.layers):
            for key in layer:
                if not isinstance(key, str):
                    continue
                place = Placed(self.left[key], top[r], *self.sizes[key])
                boxes[key] = place
                self._box(canvas, box_cells, slots, self.d.boxes[key], place)
        rows = ["".join(row) for row in canvas]
        for row in box_cells:
            row.sort()
        return Drawing(self.d, self.names_only, width, height, rows, boxes, box_cells, edge_cells, slots)

    def _box(self, canvas: list[list[str]], cells: list[list[tuple[int, int, str, str]]],
             slots: dict[str, tuple[int, int, int, int]], box: Box, p: Placed) -> None:
        if self.names_only:
            pad = (p.w - len(box.id)) // 2
            text = (" " * pad + box.id).ljust(p.w)
            canvas[p.y][p.x:p.x + p.w] = list(text)
            cells[p.y].append((p.x, p.x + p.w, box.id, "name"))
            return
        tl, tr, bl, br = ("╭", "╮", "╰", "╯") if box.variable else ("┌", "┐", "└", "┘")
        inner = p.w - 2
        bottom = [bl] + ["─"] * inner + [br]
        for e in self.outs.get(box.id, ()):
            bottom[self.ports_out[e] - p.x] = "┬"
        canvas[p.y][p.x:p.x + p.w] = [tl] + ["─"] * inner + [tr]
        canvas[p.y + p.h - 1][p.x:p.x + p.w] = bottom
        cells[p.y].append((p.x, p.x + p.w, box.id, "border"))
        cells[p.y + p.h - 1].append((p.x, p.x + p.w, box.id, "border"))
        lines = box_lines(box)
        n_values = p.h - 2 - len(lines)
        for k in range(p.h - 2):
            y = p.y + 1 + k
            text = _clip(lines[k], inner - 2) if k < len(lines) else ""
            canvas[y][p.x:p.x + p.w] = ["│", " ", *text.ljust(inner - 2), " ", "│"]
            cells[y].append((p.x, p.x + 1, box.id, "border"))
            zone = "name" if k == 0 else "meta" if k < len(lines) else "value"
            cells[y].append((p.x + 1, p.x + p.w - 1, box.id, zone))
            cells[y].append((p.x + p.w - 1, p.x + p.w, box.id, "border"))
        if n_values:
            slots[box.id] = (p.x + 2, p.y + 1 + len(lines), inner - 2, n_values)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _tracks(segs: list[tuple[int, int, int]]) -> tuple[list[tuple[int, int, int, int]], int]:
    """Give each sideways arrow segment of one gap a row ("track"); straight ones need none.

    Two segments share a track only if their sideways runs are at least one column
    apart. A segment whose top column is another's bottom column runs on a higher
    track than it, so their vertical parts never overlap (a cycle of such constraints
    is broken at the leftmost segment).

    Returns:
        ``(edge, x from, x to, track)`` for every segment, and the number of tracks.
    """
    straight = [(k, a, b, 0) for k, a, b in segs if a == b]
    bent = [(k, a, b) for k, a, b in segs if a != b]
    before: dict[int, set[int]] = {i: set() for i in range(len(bent))}  # i must be above these
    after: dict[int, set[int]] = {i: set() for i in range(len(bent))}
    for i, (_, ai, _bi) in enumerate(bent):
        for j, (_, _aj, bj) in enumerate(bent):
            if i != j and ai == bj:
                before[i].add(j)
                after[j].add(i)
    track: dict[int, int] = {}
    used: list[list[tuple[int, int]]] = []
    left = set(range(len(bent)))
    while left:
        ready = [i for i in left if not (after[i] & left)]
        i = min(ready or left, key=lambda i: (min(bent[i][1], bent[i][2]), i))
        left.discard(i)
        lo, hi = sorted(bent[i][1:])
        t = max((track[j] + 1 for j in after[i] if j in track), default=0)
        while t < len(used) and any(not (hi + 1 < a or b + 1 < lo) for a, b in used[t]):
            t += 1
        while len(used) <= t:
            used.append([])
        used[t].append((lo, hi))
        track[i] = t
    return straight + [(k, a, b, track[i]) for i, (k, a, b) in enumerate(bent)], len(used)


# ---------------------------------------------------------------------------- one step's look
@dataclass(frozen=True)
class Frame:
    """What one step lights, dims and writes into the boxes.

    Attributes:
        lit: Boxes of the step: the node it computes (forward), the nodes whose
            gradient it computes (backward), the parameter it updates.
        source: Backward: the box the gradient comes through (the op's node).
        dim: Boxes not computed yet (forward) or whose gradient is not complete yet (backward).
        lit_edges: Arrow indices the step uses.
        values: Box id -> number lines to write (values or gradients).
    """

    lit: frozenset[str] = frozenset()
    source: frozenset[str] = frozenset()
    dim: frozenset[str] = frozenset()
    lit_edges: frozenset[int] = frozenset()
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    """When each box is ready in one run's trace: forward step index of its value, and the
    backward step index after which its gradient is complete (None: it gets none)."""

    computed: dict[str, int]
    grad_done: dict[str, int]


def progress_of(diagram: Diagram, steps: Sequence[Any]) -> Progress:
    """Read :class:`Progress` from a run's steps (forward, then backward)."""
    computed: dict[str, int] = {b: -1 for b, box in diagram.boxes.items() if box.variable}
    done: dict[str, int] = {}
    first_backward = True
    for st in steps:
        if st.phase == "forward" and st.node in diagram.boxes:
            computed[st.node] = st.index
        elif st.phase == "backward":
            if first_backward and st.node in diagram.boxes:
                done[st.node] = st.index - 1  # the target: its gradient (1) is there from the start
            first_backward = False
            for inp, (k, n) in zip(st.inputs, st.accumulates or ((1, 1),) * len(st.inputs)):
                if inp in diagram.boxes and n and k == n:
                    done[inp] = st.index
    return Progress(computed, done)


def frame_at(diagram: Diagram, drawing: Drawing | None, progress: Progress, step: Any,
             values: dict[str, tuple[str, ...]] | None = None) -> Frame:
    """The look of ``step`` (a step of the run ``progress`` was read from, or an update step).

    Args:
        diagram: What is drawn.
        drawing: The drawing (for arrow indices); None gives no lit arrows.
        progress: From :func:`progress_of` on the step's run.
        step: The engine's :class:`~nnlab.engine.trace.Step` (``phase``, ``node``, ``inputs``,
            ``accumulates``, ``index`` within its run).
        values: Box id -> number lines (values for forward and update steps, gradients
            for backward ones); only the boxes ready at this step keep theirs.
    """
    values = values or {}
    own = diagram.owner
    edges = diagram.edges_into(step.node, step.inputs) if step.phase != "update" else set()
    lit_edges = frozenset(k for e in edges if (k := drawing.edge_index(e) if drawing else None) is not None)
    if step.phase == "update":
        lit = frozenset({own.get(step.node, step.node)})
        return Frame(lit, frozenset(), frozenset(), frozenset(), dict(values))
    if step.phase == "forward":
        lit = frozenset({own[step.node]}) if step.node in own else frozenset()
        dim = frozenset(b for b, at in progress.computed.items() if at > step.index) - lit
        dim |= frozenset(b for b in diagram.boxes if b not in progress.computed) - lit
        shown = {b: v for b, v in values.items() if b not in dim and progress.computed.get(b, 1 << 60) <= step.index}
        return Frame(lit, frozenset(), dim, lit_edges, shown)
    acc = step.accumulates or ((1, 1),) * len(step.inputs)
    lit = frozenset(own[i] for i, (_, n) in zip(step.inputs, acc) if i in own and n)
    source = frozenset({own[step.node]}) - lit if step.node in own else frozenset()
    if not lit and step.node in own:
        lit, source = frozenset({own[step.node]}), frozenset()
    done = {b for b, at in progress.grad_done.items() if at <= step.index}
    dim = frozenset(b for b in diagram.boxes if b not in done) - lit - source
    shown = {b: v for b, v in values.items() if b in done}
    return Frame(lit, source, dim, lit_edges, shown)


def number_lines(array: Any, digits: int = 4, width: int = MAX_BOX_WIDTH - 4) -> tuple[str, ...]:
    """A small tensor's numbers as lines (``[0.45, 0.2]``; a matrix one row a line), else ``()``."""
    from nnlab.numfmt import fmt

    shape = getattr(array, "shape", ())
    if len(shape) == 0:
        lines = [fmt(array.item() if hasattr(array, "item") else array, digits)]
    elif len(shape) == 1 and shape[0] <= MAX_VALUE_COLUMNS:
        lines = ["[" + ", ".join(fmt(v, digits) for v in array.tolist()) + "]"]
    elif len(shape) == 2 and shape[0] <= MAX_VALUE_ROWS and shape[1] <= MAX_VALUE_COLUMNS:
        lines = ["[" + ", ".join(fmt(v, digits) for v in row) + "]" for row in array.tolist()]
    else:
        return ()
    return tuple(lines) if max(len(s) for s in lines) <= width else ()


def run_numbers(diagram: Diagram, run: Any, kind: str = "value", example: int = 0,
                digits: int = 4) -> dict[str, tuple[str, ...]]:
    """Number lines of every box that has small enough numbers in ``run``.

    Args:
        kind: ``"value"`` or ``"grad"``.
        example: Which example of a batched node (clamped to the run's batch).
    """
    from nnlab.engine.run import to_float

    source = run.values if kind == "value" else run.grads
    out: dict[str, tuple[str, ...]] = {}
    for bid in diagram.boxes:
        a = source.get(bid)
        if a is None or a.size > (MAX_VALUE_ROWS * MAX_VALUE_COLUMNS) * max(1, a.shape[0] if a.ndim else 1):
            continue  # too many numbers to write in a box, whatever the example
        if a.ndim and a.shape[0] > 1:
            a = a[min(example, a.shape[0] - 1)]
        elif a.ndim:
            a = a[0]
        lines = number_lines(to_float(a), digits)
        if lines:
            out[bid] = lines
    return out


def room_for_numbers(diagram: Diagram, run: Any, digits: int = 4) -> dict[str, tuple[str, ...]]:
    """For each box, the widest of its value and gradient lines (what its box must hold)."""
    values = run_numbers(diagram, run, "value", 0, digits)
    grads = run_numbers(diagram, run, "grad", 0, digits) if run.target is not None else {}
    out: dict[str, tuple[str, ...]] = {}
    for bid in diagram.boxes:
        a, b = values.get(bid, ()), grads.get(bid, ())
        n = max(len(a), len(b))
        if n:
            out[bid] = tuple(max(a[k] if k < len(a) else "", b[k] if k < len(b) else "", key=len)
                             for k in range(n))
    return out


# ---------------------------------------------------------------------------- painting
def paint_row(drawing: Drawing, frame: Frame, y: int) -> list[tuple[str, str]]:
    """Row ``y`` as runs of ``(text, role)`` (roles: :data:`ROLES`, ``""`` for empty space)."""
    if not 0 <= y < drawing.height:
        return []
    chars = list(drawing.rows[y])
    roles = [BLANK] * len(chars)
    lit, dim, source = frame.lit, frame.dim, frame.source
    for x, passing in drawing.edge_cells[y].items():
        on = [d for k, d in passing if k in frame.lit_edges]
        if on:
            ch = chars[x]
            if len(passing) > 1 and ch == "┼":  # a crossing: only the lit line is heavy
                chars[x] = "╂" if on[0] & (_UP | _DOWN) else "┿"
            else:
                chars[x] = ch.translate(HEAVY)
            roles[x] = EDGE_LIT
        else:
            roles[x] = EDGE_DIM if all(_edge_dim(drawing, k, dim) for k, _ in passing) else EDGE
    for x0, x1, bid, zone in drawing.box_cells[y]:
        state = "lit" if bid in lit else "source" if bid in source else "dim" if bid in dim else ""
        if zone == "border":
            seg = "".join(chars[x0:x1])
            seg = seg.translate(HEAVY if state == "lit" else DOUBLE if state == "source" else
                                DASHED if state == "dim" else {})
            chars[x0:x1] = seg
        elif zone == "name" and drawing.names_only and state in ("lit", "source"):
            left = x0 + (x1 - x0 - len(bid)) // 2  # brackets hug the name: [z1]
            chars[left - 1], chars[left + len(bid)] = ("[", "]") if state == "lit" else ("(", ")")
        role = {"lit": LIT, "source": SOURCE, "dim": DIM}.get(state, NODE)
        if zone == "name":
            role = {"lit": LIT_NAME, "source": SOURCE_NAME, "dim": DIM}.get(state, NAME)
        elif zone == "meta" and not state:
            role = META
        elif zone == "value" and not state:
            role = VALUE
        for x in range(x0, x1):
            roles[x] = role
    slot_row = _slots_on_row(drawing, y)
    for bid, x0, w, k in slot_row:
        lines = frame.values.get(bid, ())
        text = _clip(lines[k], w) if k < len(lines) else ""
        chars[x0:x0 + w] = text.ljust(w)
    runs: list[tuple[str, str]] = []
    start = 0
    for x in range(1, len(chars) + 1):
        if x == len(chars) or roles[x] != roles[start]:
            runs.append(("".join(chars[start:x]), roles[start]))
            start = x
    return runs


def _slots_on_row(drawing: Drawing, y: int) -> list[tuple[str, int, int, int]]:
    out = []
    for bid, (x0, y0, w, n) in drawing.value_slots.items():
        if y0 <= y < y0 + n:
            out.append((bid, x0, w, y - y0))
    return out


def _edge_dim(drawing: Drawing, k: int, dim: frozenset[str]) -> bool:
    a, b = drawing.diagram.edges[k]
    return a in dim or b in dim


def step_for_box(diagram: Diagram, steps: Sequence[Any], current: int, box: str) -> int | None:
    """The step to jump to when box ``box`` is clicked at step ``current``.

    In the current phase if the box has a step there: forward, the step computing it
    (for a variable, the first step using it); backward, the first step computing
    its gradient; update, its update. Otherwise the other phases, in that order.
    Training: within the current update's steps.
    """
    cur = steps[current]
    lo, hi = 0, len(steps) - 1
    if cur.update is not None:  # a training trace can be long: look only at this update's steps
        lo = hi = current
        while lo > 0 and steps[lo - 1].update == cur.update:
            lo -= 1
        while hi + 1 < len(steps) and steps[hi + 1].update == cur.update:
            hi += 1
    window = [steps[k] for k in range(lo, hi + 1)]
    members = set(diagram.boxes[box].members) if box in diagram.boxes else {box}
    first_backward = next((s for s in window if s.phase == "backward"), None)

    def computes(s: Any) -> bool:
        return s.phase == "forward" and s.node in members

    def uses(s: Any) -> bool:
        return s.phase == "forward" and box in s.inputs

    def gradient(s: Any) -> bool:
        if s.phase != "backward":
            return False
        acc = s.accumulates or ((1, 1),) * len(s.inputs)
        return any(i == box and n for i, (_, n) in zip(s.inputs, acc)) or (s is first_backward and s.node == box)

    def updates(s: Any) -> bool:
        return s.phase == "update" and s.node == box

    order = {"forward": (computes, uses, gradient, updates), "backward": (gradient, computes, uses, updates),
             "update": (updates, gradient, computes, uses)}.get(cur.phase, (computes, uses, gradient, updates))
    for test in order:
        found = [s.index for s in window if test(s)]
        if found:
            return found[-1] if test is computes else found[0]
    return None


def text_lines(drawing: Drawing, frame: Frame | None = None) -> list[str]:
    """The whole drawing as plain text lines (right-stripped)."""
    frame = frame or Frame()
    return ["".join(t for t, _ in paint_row(drawing, frame, y)).rstrip() for y in range(drawing.height)]


__all__ = ["Box", "Diagram", "Drawing", "Frame", "Placed", "Progress", "ROLES", "diagram_of", "draw", "frame_at",
           "draw_forms", "number_lines", "paint_row", "progress_of", "room_for_numbers", "run_numbers", "shape_text", "step_for_box",
           "text_lines"]
