"""Tensor grids: numbers formatted by nnlab, drawn line by line, only what is visible.

A :class:`TensorGrid` is a Line-API widget (``ScrollView``): ``render_line`` formats
just the cells of the rows and columns on screen, so a 227×227 channel costs the same
to repaint as a 3×3 one. The row and column indices are frozen at the left and top.
Highlights come from the engine's :class:`~nnlab.engine.trace.Explanation` uses and
are drawn with component classes styled in ``nnlab.tcss`` (theme aware).

This module imports no NumPy: arrays arrive as objects with ``shape``, indexing and
``tolist`` and are only used through those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from nnlab.numfmt import fmt

ROLE_CLASSES = {
    "current": "tensor-grid--current",
    "used": "tensor-grid--used",
    "weight": "tensor-grid--weight",
    "argmax": "tensor-grid--argmax",
    "masked": "tensor-grid--masked",
    "padding": "tensor-grid--pad-used",
}


def lead_count(shape: tuple[int, ...]) -> int:
    """How many 2-D slices a tensor of ``shape`` has (1 for rank ≤ 2)."""
    n = 1
    for s in shape[:-2]:
        n *= s
    return n


def lead_index(shape: tuple[int, ...], k: int) -> tuple[int, ...]:
    """The ``k``-th leading index (row-major) of a tensor of ``shape``."""
    lead = shape[:-2]
    out = []
    for s in reversed(lead):
        out.append(k % s)
        k //= s
    return tuple(reversed(out))


def lead_number(shape: tuple[int, ...], lead: tuple[int, ...]) -> int:
    """Inverse of :func:`lead_index`."""
    k = 0
    for s, i in zip(shape[:-2], lead):
        k = k * s + i
    return k


class TensorGrid(ScrollView, can_focus=False):
    """One 2-D slice of a tensor as an aligned grid with highlighted cells.

    Scalars draw as one cell, vectors as one row, matrices as rows × columns; for
    higher ranks :attr:`lead` picks the slice. Padding cells (when the operand is
    drawn padded) are drawn in their own style.
    """

    COMPONENT_CLASSES = {
        "tensor-grid--index",
        "tensor-grid--padding",
        "tensor-grid--pad-used",
        "tensor-grid--current",
        "tensor-grid--used",
        "tensor-grid--weight",
        "tensor-grid--argmax",
        "tensor-grid--masked",
    }

    @dataclass
    class CellClicked(Message):
        """A cell was clicked (index in the drawn frame, full rank)."""

        grid: TensorGrid
        index: tuple[int, ...]

        @property
        def control(self) -> TensorGrid:
            """The grid that was clicked."""
            return self.grid

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.operand: Any = None
        self.marks: dict[tuple[int, ...], str] = {}
        self.lead: tuple[int, ...] = ()
        self.digits = 4
        self._rows = 1
        self._cols = 1
        self._cw = 2
        self._gutter = 2
        self._slice: Any = None
        self._row_marks: dict[int, dict[int, str]] = {}
        self._want: tuple[int, int] | None = None

    # ------------------------------------------------------------------ data
    def show(self, operand: Any, marks: dict[tuple[int, ...], str], lead: tuple[int, ...], digits: int,
             follow: tuple[int, ...] | None) -> None:
        """Draw ``operand`` (slice ``lead``) with ``marks`` and keep ``follow`` in view."""
        same = operand is self.operand and lead == self.lead and digits == self.digits
        self.operand, self.marks, self.lead, self.digits = operand, marks, lead, digits
        shape = operand.shape
        nd = len(shape)
        if not same:
            a = operand.array
            self._slice = a[lead] if nd > 2 else a
            self._rows = shape[-2] if nd >= 2 else 1
            self._cols = shape[-1] if nd >= 1 else 1
            self._cw, self._gutter = cell_geometry(operand, digits)
            self.virtual_size = Size(self._gutter + self._cols * self._cw + 1, self._rows + 1)
        rows: dict[int, dict[int, str]] = {}
        k = len(lead)
        for idx, role in marks.items():
            if len(idx) != nd or tuple(idx[:k]) != lead:
                continue
            r, c = _rc(idx, nd)
            rows.setdefault(r, {})[c] = role
        self._row_marks = rows
        self._want = _rc(follow, nd) if follow is not None and tuple(follow[:k]) == lead else None
        self._follow()
        self.refresh()

    def _follow(self) -> None:
        """Scroll so that the wanted cell is visible (centred when it was off screen)."""
        if self._want is None or not self.size.height:
            return
        r, c = self._want
        region = self.scrollable_content_region
        vis_rows = max(1, region.height - 1)
        vis_w = max(1, region.width - self._gutter)
        y, x = self.scroll_y, self.scroll_x
        if not y <= r < y + vis_rows:
            y = max(0, r - vis_rows // 2)
        left, right = c * self._cw, (c + 1) * self._cw
        if not (x <= left and right <= x + vis_w):
            x = max(0, left - vis_w // 2)
        if (y, x) != (self.scroll_y, self.scroll_x):
            self.scroll_to(x, y, animate=False, immediate=True)

    def on_resize(self) -> None:
        """Keep the wanted cell in view after a resize."""
        self._follow()

    # ------------------------------------------------------------------ drawing
    def render_line(self, y: int) -> Strip:
        """One visible line: the column header (y = 0) or a data row."""
        width = self.scrollable_content_region.width
        base = self.rich_style
        if self.operand is None:
            return Strip.blank(width, base)
        index_style = self.get_component_rich_style("tensor-grid--index")
        gutter, cw = self._gutter, self._cw
        sx = int(self.scroll_x)
        first = max(0, sx // cw)
        last = min(self._cols, (sx + max(0, width - gutter)) // cw + 1)
        left_pad = self.operand.pads[1][0] if self.operand.pads else 0
        top_pad = self.operand.pads[0][0] if self.operand.pads else 0
        if y == 0:
            segs = [Segment(" " * gutter, base)]
            for c in range(first, last):
                segs.append(Segment(str(c - left_pad).rjust(cw), index_style))
        else:
            r = y - 1 + int(self.scroll_y)
            if r >= self._rows:
                return Strip.blank(width, base)
            segs = [Segment(str(r - top_pad).rjust(gutter - 1) + " ", index_style)]
            segs.extend(self._cells(r, first, last, base))
        body = Strip(segs[1:]).crop_extend(sx - first * cw, sx - first * cw + max(0, width - gutter), base)
        return Strip([segs[0]]).crop_extend(0, gutter, base) + body if width > gutter else \
            Strip([segs[0]]).crop_extend(0, width, base)

    def _cells(self, r: int, first: int, last: int, base: Style) -> list[Segment]:
        a, nd, cw = self._slice, len(self.operand.shape), self._cw
        if nd == 0:
            row = [a.item() if hasattr(a, "item") else a]
            first, last = 0, 1
        elif nd == 1:
            row = a[first:last].tolist()
        else:
            row = a[r, first:last].tolist()
        marks = self._row_marks.get(r, {})
        pads = self.operand.pads
        if pads:
            (t, b), (lp, rp) = pads
            pad_row = r < t or r >= self._rows - b
            pad_lo, pad_hi = lp, self._cols - rp
        digits = self.digits
        out = []
        for k, v in enumerate(row):
            c = first + k
            text = fmt(v, digits)
            if len(text) >= cw:
                text = text[: cw - 2] + "…"
            role = marks.get(c)
            is_pad = bool(pads) and (pad_row or c < pad_lo or c >= pad_hi)
            if role is not None:
                name = ROLE_CLASSES.get(role, "tensor-grid--used")
                if is_pad and role != "current":
                    name = "tensor-grid--pad-used"
                style = self.get_component_rich_style(name)
            elif is_pad:
                style = self.get_component_rich_style("tensor-grid--padding")
            else:
                style = base
            out.append(Segment(" " + text.rjust(cw - 1), style))
        return out

    # ------------------------------------------------------------------ mouse
    def on_click(self, event: events.Click) -> None:
        """Post :class:`CellClicked` for a click on a data cell."""
        if self.operand is None or event.y < 1 or event.x < self._gutter:
            return
        r = event.y - 1 + int(self.scroll_y)
        c = (event.x - self._gutter + int(self.scroll_x)) // self._cw
        if not (0 <= r < self._rows and 0 <= c < self._cols):
            return
        nd = len(self.operand.shape)
        index = () if nd == 0 else (c,) if nd == 1 else tuple(self.lead) + (r, c)
        self.post_message(self.CellClicked(self, index))


def _rc(index: tuple[int, ...], nd: int) -> tuple[int, int]:
    if nd == 0:
        return 0, 0
    if nd == 1:
        return 0, index[0]
    return index[-2], index[-1]


class TensorHeader(Static, can_focus=False):
    """The line above a grid: name, shape, slice selector ``‹ [0,:,:] ›`` and notes."""

    @dataclass
    class SliceStep(Message):
        """The ‹ or › of the slice selector was clicked (``delta`` is −1 or +1)."""

        header: TensorHeader
        delta: int

        @property
        def control(self) -> TensorHeader:
            """The header that was clicked."""
            return self.header

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", markup=False, **kwargs)
        self._arrows: tuple[int, int] | None = None

    def set_header(self, operand: Any, lead: tuple[int, ...], digits: int) -> None:
        """Describe ``operand`` showing slice ``lead``."""
        text = Text()
        text.append(operand.title, style="bold")
        shape = operand.shape
        true_shape = shape
        if operand.pads:
            (t, b), (l, r) = operand.pads
            true_shape = tuple(shape[:-2]) + (shape[-2] - t - b, shape[-1] - l - r)
        text.append("  " + ("×".join(str(s) for s in true_shape) if true_shape else "scalar"), style="dim")
        self._arrows = None
        if len(shape) > 2:
            n = lead_count(shape)
            k = lead_number(shape, lead)
            text.append("  ")
            start = len(text.plain)
            text.append("‹", style="bold")
            sl = ",".join(str(i) for i in lead) + ",:,:"
            text.append(f" [{sl}] {k + 1}/{n} ")
            text.append("›", style="bold")
            self._arrows = (start, len(text.plain) - 1)
        if operand.note:
            text.append("  " + operand.note, style="italic")
        self.update(text)

    def on_click(self, event: events.Click) -> None:
        """Clicks on ‹ or › step the slice."""
        if self._arrows is None:
            return
        lo, hi = self._arrows
        if event.x <= lo + 1 and event.x >= lo - 1:
            self.post_message(self.SliceStep(self, -1))
        elif hi - 1 <= event.x <= hi + 1:
            self.post_message(self.SliceStep(self, +1))


class TensorBlock(Widget, can_focus=False):
    """A header and a grid: one operand of the current step."""

    DEFAULT_CSS = """
    TensorBlock { height: auto; width: 1fr; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.header = TensorHeader(classes="tensor-header")
        self.grid = TensorGrid(classes="tensor-grid")
        self.operand: Any = None

    def compose(self) -> ComposeResult:
        """A header line above the grid."""
        yield self.header
        yield self.grid


class TensorRow(Widget, can_focus=False):
    """A row of blocks: side by side when they fit the pane's width, else stacked."""

    DEFAULT_CSS = """
    TensorRow { height: auto; width: 1fr; layout: horizontal; }
    TensorRow.-stacked { layout: vertical; }
    """

    def __init__(self, size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.blocks = [TensorBlock(classes="tensor-block") for _ in range(size)]

    def compose(self) -> ComposeResult:
        """The row's pool of blocks, hidden until used."""
        for b in self.blocks:
            b.display = False
            yield b


GAP = 3


class TensorPane(VerticalScroll, can_focus=False):
    """The current step's tensors: inputs (or upstream gradient), then the output (or gradients).

    Blocks are packed into two rows: everything side by side when it fits the
    width, else the inputs in one row and the results in the next, each row stacked
    vertically when its blocks do not fit. The pane keeps a pool of
    :class:`TensorBlock` widgets and reuses them, so a key press updates data
    instead of mounting widgets.
    """

    @dataclass
    class SliceChanged(Message):
        """The user asked to see another slice of the operand in ``slot``."""

        pane: TensorPane
        slot: int
        delta: int

        @property
        def control(self) -> TensorPane:
            """The pane."""
            return self.pane

    @dataclass
    class ElementClicked(Message):
        """A cell of the operand in ``slot`` was clicked."""

        pane: TensorPane
        slot: int
        index: tuple[int, ...]

        @property
        def control(self) -> TensorPane:
            """The pane."""
            return self.pane

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows = [TensorRow(6, classes="tensor-row"), TensorRow(6, classes="tensor-row")]
        self.leads: dict[int, tuple[int, ...]] = {}
        self._operands: list[Any] = []
        self._arranged: tuple | None = None
        self._placement: list[tuple[int, int]] = []

    @property
    def blocks(self) -> list[TensorBlock]:
        """The blocks in use, in operand order."""
        return [self.rows[r].blocks[p] for r, p in self._placement]

    def compose(self) -> ComposeResult:
        """Two rows of pooled blocks."""
        yield from self.rows

    def _arrange(self, operands: list[Any], digits: int) -> None:
        """Decide which row and position each operand goes to, and each row's direction."""
        width = max(20, self.scrollable_content_region.width or self.size.width or 80)
        key = (tuple((id(o), o.shape) for o in operands), width, digits)
        if key == self._arranged:
            return
        self._arranged = key
        widths = [_block_width(o, digits) for o in operands]
        inputs = [k for k, o in enumerate(operands) if o.role in ("input", "upstream")]
        results = [k for k in range(len(operands)) if k not in inputs]
        if sum(widths) + GAP * (len(widths) - 1) <= width:
            groups = [list(range(len(operands))), []]
        else:
            groups = [inputs, results]
        placement: list[tuple[int, int]] = [(0, 0)] * len(operands)
        for r, group in enumerate(groups):
            row = self.rows[r]
            fits = sum(widths[k] for k in group) + GAP * max(0, len(group) - 1) <= width
            row.set_class(not fits, "-stacked")
            for p, block in enumerate(row.blocks):
                if p < len(group):
                    k = group[p]
                    placement[k] = (r, p)
                    block.styles.width = widths[k] if fits else "1fr"
                    block.set_class(fits and p < len(group) - 1, "-gap")
                    block.display = True
                elif block.display:
                    block.display = False
            row.display = bool(group)
        self._placement = placement

    def show(self, operands: list[Any], marks: dict[int, dict[tuple[int, ...], str]], focus_slot: int,
             focus_index: tuple[int, ...], digits: int, new_step: bool) -> None:
        """Draw ``operands`` with the highlights of the current element."""
        if new_step:
            self.leads = {}
        self._operands = operands
        self._arrange(operands, digits)
        cursor_block = None
        for op, block in zip(operands, self.blocks):
            m = marks.get(op.slot, {})
            lead = self._lead(op, m, focus_slot, focus_index)
            block.operand = op
            block.set_class(op.cursor, "-cursor")
            block.set_class(op.role == "output" or op.role == "grad", "-result")
            block.header.set_header(op, lead, digits)
            follow = focus_index if op.slot == focus_slot else (next(iter(m)) if m else None)
            block.grid.show(op, m, lead, digits, follow)
            if op.slot == focus_slot:
                cursor_block = block
        if cursor_block is not None and self.size.height and new_step:
            self.scroll_to_widget(cursor_block, animate=False, immediate=True)

    def on_resize(self) -> None:
        """Re-pack the rows for the new width."""
        if self._operands:
            self._arranged = None
            self._arrange(self._operands, self.blocks[0].grid.digits if self.blocks else 4)

    def _lead(self, op: Any, marks: dict, focus_slot: int, focus_index: tuple[int, ...]) -> tuple[int, ...]:
        nd = len(op.shape)
        if nd <= 2:
            return ()
        k = nd - 2
        if op.slot == focus_slot and len(focus_index) == nd:
            lead = tuple(focus_index[:k])
        else:
            lead = self.leads.get(op.slot)
            if lead is None or (marks and not any(tuple(i[:k]) == lead for i in marks)):
                lead = tuple(next(iter(marks))[:k]) if marks else (0,) * k
        self.leads[op.slot] = lead
        return lead

    def step_slice(self, slot: int, delta: int) -> tuple[int, ...] | None:
        """Show the next (previous) slice of the operand in ``slot``; returns the new lead."""
        for op in self._operands:
            if op.slot == slot and len(op.shape) > 2:
                n = lead_count(op.shape)
                k = (lead_number(op.shape, self.leads.get(slot, (0,) * (len(op.shape) - 2))) + delta) % n
                lead = lead_index(op.shape, k)
                self.leads[slot] = lead
                return lead
        return None

    def on_tensor_header_slice_step(self, event: TensorHeader.SliceStep) -> None:
        """Turn a header click into :class:`SliceChanged`."""
        event.stop()
        block = event.header.parent
        if isinstance(block, TensorBlock) and block.operand is not None:
            self.post_message(self.SliceChanged(self, block.operand.slot, event.delta))

    def on_tensor_grid_cell_clicked(self, event: TensorGrid.CellClicked) -> None:
        """Turn a grid click into :class:`ElementClicked`."""
        event.stop()
        block = event.grid.parent
        if isinstance(block, TensorBlock) and block.operand is not None:
            self.post_message(self.ElementClicked(self, block.operand.slot, event.index))


def cell_geometry(op: Any, digits: int) -> tuple[int, int]:
    """``(cell width, gutter width)`` of a grid: numbers and index labels must both fit."""
    shape = op.shape
    rows = shape[-2] if len(shape) >= 2 else 1
    cols = shape[-1] if len(shape) >= 1 else 1
    top = op.pads[0][0] if op.pads else 0
    left = op.pads[1][0] if op.pads else 0
    label = max(len(str(cols - 1 - left)), len(str(-left)))
    cw = max(op.cell_width(digits), label) + 1
    gutter = max(len(str(rows - 1 - top)), len(str(-top)), 1) + 1
    return cw, gutter


def grid_size(op: Any, digits: int) -> tuple[int, int]:
    """Width and height a grid needs to show ``op`` without scrolling."""
    shape = op.shape
    rows = shape[-2] if len(shape) >= 2 else 1
    cols = shape[-1] if len(shape) >= 1 else 1
    cw, gutter = cell_geometry(op, digits)
    return gutter + cols * cw + 1, rows + 1


def _block_width(op: Any, digits: int) -> int:
    w, h = grid_size(op, digits)
    if h > MAX_GRID_ROWS:
        w += 1  # vertical scrollbar
    head = len(op.title) + 2 + len("×".join(str(s) for s in op.shape)) + (14 if len(op.shape) > 2 else 0)
    return max(w, min(head, 28))


MAX_GRID_ROWS = 14
