"""The tensor pane: every operand of the step as an aligned grid, drawn line by line.

Why one widget: a key press must repaint in a few milliseconds. Laying out a
header and a grid widget per operand made every step change a Textual layout pass
(tens of milliseconds); here the pane is a single fixed-size Line-API widget that
packs the operands itself (side by side when they fit, inputs above results
otherwise), so moving to another step or element is only a repaint. Each operand
gets a viewport that follows the highlighted cells, and ``render_line`` formats only
the cells on screen — a 227×227 channel costs the same to repaint as a 3×3 one.

Highlights come from the engine's :class:`~nnlab.engine.trace.Explanation` uses and
are drawn with component classes styled in ``nnlab.tcss`` (theme aware). Numbers are
formatted by :func:`nnlab.numfmt.fmt`, never by a widget.

This module imports no NumPy: arrays are used through ``shape``, slicing and ``tolist``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from nnlab.numfmt import fmt
from nnlab.tui.marks import NO_MARKS, Marks
from nnlab.tui.widgets.panes import readable


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




def _rc(index: tuple[int, ...], nd: int) -> tuple[int, int]:
    if nd == 0:
        return 0, 0
    if nd == 1:
        return 0, index[0]
    return index[-2], index[-1]


def _box_rc(use: Any, nd: int) -> tuple[int, int, int, int, str]:
    """A box record's rows and columns in the drawn slice: ``(r0, r1, c0, c1, role)``, ends excluded."""
    if nd == 0:
        return 0, 1, 0, 1, use.role
    if nd == 1:
        return 0, 1, use.index[0], use.index[0] + use.extent[0], use.role
    (r0, c0), (h, w) = use.index[-2:], use.extent[-2:]
    return r0, r0 + h, c0, c0 + w, use.role


def _dims(shape: tuple[int, ...]) -> tuple[int, int]:
    return (shape[-2] if len(shape) >= 2 else 1), (shape[-1] if len(shape) >= 1 else 1)


def cell_geometry(op: Any, digits: int) -> tuple[int, int]:
    """``(cell width, gutter width)`` of a grid: numbers and index labels must both fit."""
    rows, cols = _dims(op.shape)
    top = op.pads[0][0] if op.pads else 0
    left = op.pads[1][0] if op.pads else 0
    label = max(len(str(cols - 1 - left)), len(str(-left)))
    cw = max(op.cell_width(digits), label) + 1
    gutter = max(len(str(rows - 1 - top)), len(str(-top)), 1) + 1 if len(op.shape) >= 2 else 1
    return cw, gutter


def true_shape(op: Any) -> tuple[int, ...]:
    """The operand's shape without the padding it is drawn with."""
    shape = op.shape
    if op.pads:
        (t, b), (l, r) = op.pads
        return tuple(shape[:-2]) + (shape[-2] - t - b, shape[-1] - l - r)
    return tuple(shape)


@dataclass
class Block:
    """Where and how one operand is drawn in the pane.

    Attributes:
        op: The operand.
        x, y: Top-left corner in pane coordinates (y before the pane's scroll).
        width: Columns the block occupies.
        vis_rows, vis_cols: Data rows and columns that fit.
        row_off, col_off: First data row and column shown (the viewport).
        lead: The slice shown, for rank > 2.
        cw, gutter: Cell width and row-label width.
        arrows: Header columns of ‹ and › (relative to ``x``), if the slice selector is shown.
        fixed: The block always shows channel ``lead`` (all channels are side by side).
    """

    op: Any
    x: int = 0
    y: int = 0
    width: int = 0
    vis_rows: int = 1
    vis_cols: int = 1
    row_off: int = 0
    col_off: int = 0
    lead: tuple[int, ...] = ()
    cw: int = 2
    gutter: int = 1
    arrows: tuple[int, int] | None = None
    pinned: bool = False
    fixed: bool = False  # one channel of a tensor shown channel by channel, side by side

    @property
    def height(self) -> int:
        """Header + column labels + data rows."""
        return 2 + self.vis_rows

    @property
    def rows(self) -> int:
        """Data rows of the slice."""
        return _dims(self.op.shape)[0]

    @property
    def cols(self) -> int:
        """Data columns of the slice."""
        return _dims(self.op.shape)[1]


GAP = 3
MIN_ROWS = 4
MAX_SIDE_BY_SIDE = 4  # channels shown at once when there is room


class TensorPane(Widget, can_focus=False):
    """The current step's operands: inputs (or the upstream gradient), then the results.

    The pane owns no step state: :meth:`show` is given the operands and the
    highlights of the current element and lays them out; the viewports follow the
    highlighted cells. Mouse: a click on a result cell selects that element, a click
    on ‹ › shows another channel, the wheel scrolls the block under the pointer.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "tensor-pane--title",
        "tensor-pane--title-result",
        "tensor-pane--meta",
        "tensor-pane--index",
        "tensor-pane--cell",
        "tensor-pane--padding",
        "tensor-pane--pad-used",
        "tensor-pane--current",
        "tensor-pane--used",
        "tensor-pane--weight",
        "tensor-pane--argmax",
        "tensor-pane--masked",
    }

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
        """A cell of the operand in ``slot`` was clicked (index in its drawn frame, full rank)."""

        pane: TensorPane
        slot: int
        index: tuple[int, ...]

        @property
        def control(self) -> TensorPane:
            """The pane."""
            return self.pane

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.operands: list[Any] = []
        self.marks: dict[int, Marks] = {}
        self.focus_slot = -1
        self.focus_index: tuple[int, ...] = ()
        self.digits = 4
        self.leads: dict[int, tuple[int, ...]] = {}
        self.blocks: list[Block] = []
        self.scroll = 0
        self._layout_key: tuple | None = None
        self._row_marks: dict[int, dict[int, dict[int, str]]] = {}
        self._row_boxes: dict[int, list[tuple[int, int, int, int, str]]] = {}
        self._height = 0
        self._styles: dict[str, Style] = {}

    # ------------------------------------------------------------------ data
    def show(self, operands: list[Any], marks: dict[int, Marks], focus_slot: int,
             focus_index: tuple[int, ...], digits: int, new_step: bool) -> None:
        """Draw ``operands`` with the highlights of the current element."""
        if new_step:
            self.leads = {}
            self.scroll = 0
        self.operands, self.marks = operands, marks
        self.focus_slot, self.focus_index, self.digits = focus_slot, tuple(focus_index), digits
        leads = [self._lead(op) for op in operands]
        self._pack(leads, force=new_step)
        self._index_marks()
        self._follow()
        self.refresh()

    def _lead(self, op: Any) -> tuple[int, ...]:
        nd = len(op.shape)
        if nd <= 2:
            return ()
        k = nd - 2
        m = self.marks.get(op.slot, NO_MARKS)
        if op.slot == self.focus_slot and len(self.focus_index) == nd:
            lead = tuple(self.focus_index[:k])
        else:
            lead = self.leads.get(op.slot)
            boxes = m.boxes
            if lead is None or (m and not any(tuple(i[:k]) == lead for i in m)):
                lead = tuple(next(iter(m))[:k]) if m else tuple(boxes[0].index[:k]) if boxes else (0,) * k
        self.leads[op.slot] = lead
        return lead

    def _block(self, op: Any, lead: tuple[int, ...], width: int, fixed: bool = False) -> Block:
        cw, gutter = cell_geometry(op, self.digits)
        rows, cols = _dims(op.shape)
        natural = gutter + cols * cw + 1
        b = Block(op, lead=lead, cw=cw, gutter=gutter, vis_rows=rows, fixed=fixed)
        head = len(self._header_text(op, lead, b if fixed else None)[0])
        b.width = min(width, max(natural, min(head, 32)))
        b.vis_cols = max(1, min(cols, (b.width - gutter - 1) // cw)) if b.width > gutter + cw else 1
        return b

    @staticmethod
    def _shelves(blocks: list[Block], width: int) -> list[list[Block]]:
        """One shelf if everything fits, else inputs then results, each wrapping as needed."""
        inputs = [b for b in blocks if b.op.role in ("input", "upstream")]
        results = [b for b in blocks if b.op.role not in ("input", "upstream")]
        total = sum(b.width for b in blocks) + GAP * max(0, len(blocks) - 1)
        groups = [blocks] if total <= width else [g for g in (inputs, results) if g]
        shelves: list[list[Block]] = []
        for group in groups:
            shelf: list[Block] = []
            used = 0
            for b in group:
                need = b.width + (GAP if shelf else 0)
                if shelf and used + need > width:
                    shelves.append(shelf)
                    shelf, used, need = [], 0, b.width
                shelf.append(b)
                used += need
            if shelf:
                shelves.append(shelf)
        return shelves

    def _pack(self, leads: list[tuple[int, ...]], force: bool = False) -> None:
        """Place the blocks (see :meth:`_shelves`); channels side by side when they all fit."""
        width = max(10, self.size.width)
        height = max(4, self.size.height)
        by_slot = {op.slot: lead for op, lead in zip(self.operands, leads)}
        key = (tuple(id(o) for o in self.operands), width, height, self.digits)
        if key == self._layout_key and not force:
            for b in self.blocks:
                if not b.fixed:
                    b.lead = by_slot.get(b.op.slot, b.lead)
            return
        self._layout_key = key
        blocks = [self._block(op, lead, width) for op, lead in zip(self.operands, leads)]
        shelves = self._shelves(blocks, width)
        # with room to spare, show every channel of a small 3-D tensor at once
        if any(len(op.shape) == 3 and 2 <= op.shape[0] <= MAX_SIDE_BY_SIDE for op in self.operands):
            wide: list[Block] = []
            for op, lead in zip(self.operands, leads):
                if len(op.shape) == 3 and 2 <= op.shape[0] <= MAX_SIDE_BY_SIDE:
                    wide.extend(self._block(op, (c,), width, fixed=True) for c in range(op.shape[0]))
                else:
                    wide.append(self._block(op, lead, width))
            wide_shelves = self._shelves(wide, width)
            if len(wide_shelves) <= len(shelves) and \
                    sum(max(b.height for b in sh) + 1 for sh in wide_shelves) - 1 <= height:
                blocks, shelves = wide, wide_shelves
        # cap the rows so that every shelf fits the pane when possible (at least MIN_ROWS each)
        natural_h = sum(max(b.height for b in sh) + 1 for sh in shelves) - 1
        if natural_h > height and shelves:
            budget = max(MIN_ROWS, (height + 1) // len(shelves) - 3)
            for sh in shelves:
                for b in sh:
                    b.vis_rows = min(b.rows, budget)
            # give leftover lines to the tallest blocks
            used_h = sum(max(b.height for b in sh) + 1 for sh in shelves) - 1
            spare = height - used_h
            for sh in sorted(shelves, key=lambda sh: -max(b.rows for b in sh)):
                if spare <= 0:
                    break
                extra = min(spare, max(b.rows - b.vis_rows for b in sh))
                if extra > 0:
                    for b in sh:
                        b.vis_rows = min(b.rows, b.vis_rows + extra)
                    spare -= extra
        y = 0
        for sh in shelves:
            x = 0
            for b in sh:
                b.x, b.y = x, y
                x += b.width + GAP
            y += max(b.height for b in sh) + 1
        self._height = max(0, y - 1)
        old = {(b.op.slot, b.lead if b.fixed else None): b for b in self.blocks}
        for b in blocks:
            prev = old.get((b.op.slot, b.lead if b.fixed else None))
            if prev is not None and not force and prev.op is b.op:
                b.row_off, b.col_off = prev.row_off, prev.col_off
        self.blocks = blocks

    def _index_marks(self) -> None:
        """Per block: row → column → role, for the slice shown."""
        out: dict[int, dict[int, dict[int, str]]] = {}
        boxes: dict[int, list[tuple[int, int, int, int, str]]] = {}  # (r0, r1, c0, c1, role), ends excluded
        for k, b in enumerate(self.blocks):
            nd = len(b.op.shape)
            rows: dict[int, dict[int, str]] = {}
            n = len(b.lead)
            for idx, role in self.marks.get(b.op.slot, NO_MARKS).items():
                if len(idx) != nd or tuple(idx[:n]) != b.lead:
                    continue
                r, c = _rc(idx, nd)
                rows.setdefault(r, {})[c] = role
            out[k] = rows
            boxes[k] = [_box_rc(u, nd) for u in self.marks.get(b.op.slot, NO_MARKS).boxes
                        if all(s <= i < s + e for i, s, e in zip(b.lead, u.index, u.extent))]
        self._row_marks, self._row_boxes = out, boxes

    def _follow(self) -> None:
        """Move each viewport so that its highlighted cells are visible."""
        for k, b in enumerate(self.blocks):
            rows = self._row_marks.get(k, {})
            if b.op.slot == self.focus_slot and self.focus_index is not None and (
                    len(self.focus_index) == len(b.op.shape)):
                r, c = _rc(self.focus_index, len(b.op.shape))
                box = (r, r, c, c)
            elif rows:
                cols = [c for row in rows.values() for c in row]
                box = (min(rows), max(rows), min(cols), max(cols))
            elif self._row_boxes.get(k):
                r0, r1, c0, c1, _ = self._row_boxes[k][0]
                box = (r0, r1 - 1, c0, c1 - 1)
            else:
                continue
            b.pinned = False
            b.row_off = _span(b.row_off, b.vis_rows, b.rows, box[0], box[1])
            b.col_off = _span(b.col_off, b.vis_cols, b.cols, box[2], box[3])
        # keep the cursor's block on screen
        for b in self.blocks:
            if b.op.slot == self.focus_slot:
                h = self.size.height or self._height
                if b.y < self.scroll:
                    self.scroll = b.y
                elif b.y + b.height > self.scroll + h:
                    self.scroll = max(0, min(b.y, b.y + b.height - h))
        self.scroll = max(0, min(self.scroll, max(0, self._height - (self.size.height or 0))))

    def on_resize(self) -> None:
        """Re-pack for the new size."""
        if self.operands:
            self._pack([b.lead for b in self.blocks] or [self._lead(o) for o in self.operands])
            self._index_marks()
            self._follow()
            self.refresh()

    def step_slice(self, slot: int, delta: int) -> tuple[int, ...] | None:
        """Show the next (previous) slice of the operand in ``slot``; returns the new lead.

        When that operand's channels are all shown side by side, nothing needs to
        change on screen, but the new lead is still returned (the lab moves the
        current element there when the operand is the one it moves through).
        """
        for op in self.operands:
            if op.slot == slot and len(op.shape) > 2:
                n = lead_count(op.shape)
                current = self.leads.get(slot, (0,) * (len(op.shape) - 2))
                lead = lead_index(op.shape, (lead_number(op.shape, current) + delta) % n)
                self.leads[slot] = lead
                for b in self.blocks:
                    if b.op.slot == slot and not b.fixed:
                        b.lead = lead
                self._index_marks()
                self.refresh()
                return lead
        return None

    # ------------------------------------------------------------------ text
    def _header_text(self, op: Any, lead: tuple[int, ...], b: Block | None) -> tuple[str, tuple[int, int] | None]:
        shape = true_shape(op)
        if b is not None and b.fixed:
            text = f"{op.title}[{','.join(str(i) for i in lead)}]  {'×'.join(str(s) for s in shape[1:])}"
            if op.note and lead[0] == 0:
                text += f"  {op.note}"
            return text, None
        text = f"{op.title}  {'×'.join(str(s) for s in shape) if shape else 'scalar'}"
        arrows = None
        if len(op.shape) > 2:
            n = lead_count(op.shape)
            k = lead_number(op.shape, lead)
            sl = ",".join(str(i) for i in lead)
            start = len(text) + 2
            text += f"  ‹ [{sl},:,:] {k + 1}/{n} ›"
            arrows = (start, len(text) - 1)
        if op.note:
            text += f"  {op.note}"
        if b is not None and (b.vis_rows < b.rows):
            text += f"  rows {b.row_off}–{b.row_off + b.vis_rows - 1}"
        return text, arrows

    def _style(self, name: str) -> Style:
        style = self.get_component_rich_style(f"tensor-pane--{name}")
        return readable(style) if name == "current" else style

    # ------------------------------------------------------------------ drawing
    def render_line(self, y: int) -> Strip:
        """One line of the pane: pieces of every block that crosses it."""
        width = self.size.width
        base = self.rich_style
        line = y + self.scroll
        segs: list[Segment] = []
        x = 0
        for k, b in enumerate(self.blocks):
            ly = line - b.y
            if not 0 <= ly < b.height:
                continue
            if b.x > x:
                segs.append(Segment(" " * (b.x - x), base))
            piece = self._block_line(k, b, ly, base)
            segs.extend(piece)
            x = b.x + b.width
        return Strip(segs).crop_extend(0, width, base)

    def _block_line(self, k: int, b: Block, ly: int, base: Style) -> list[Segment]:
        if ly == 0:
            text, arrows = self._header_text(b.op, b.lead, b)
            b.arrows = arrows
            name = "title-result" if b.op.cursor else "title"
            title_len = len(b.op.title)
            head = [Segment(b.op.title, self._style(name)),
                    Segment(text[title_len:], self._style("meta"))]
            return list(Strip(head).crop_extend(0, b.width, base))
        index_style = self._style("index")
        left_pad = b.op.pads[1][0] if b.op.pads else 0
        top_pad = b.op.pads[0][0] if b.op.pads else 0
        c0, c1 = b.col_off, min(b.cols, b.col_off + b.vis_cols)
        if ly == 1:
            if len(b.op.shape) == 0:
                return [Segment(" " * b.width, base)]
            labels = "".join(str(c - left_pad).rjust(b.cw) for c in range(c0, c1))
            more = "…" if c1 < b.cols else " "
            return list(Strip([Segment(" " * b.gutter, base), Segment(labels + more, index_style)])
                        .crop_extend(0, b.width, base))
        r = b.row_off + ly - 2
        if r >= b.rows or ly - 2 >= b.vis_rows:
            return [Segment(" " * b.width, base)]
        label = str(r - top_pad).rjust(b.gutter - 1) + " " if len(b.op.shape) >= 2 else " " * b.gutter
        segs = [Segment(label, index_style)]
        segs.extend(self._cells(k, b, r, c0, c1, base))
        segs.append(Segment("…" if c1 < b.cols else " ", index_style))
        return list(Strip(segs).crop_extend(0, b.width, base))

    def _cells(self, k: int, b: Block, r: int, c0: int, c1: int, base: Style) -> list[Segment]:
        op = b.op
        a = op.array
        nd = len(op.shape)
        if nd == 0:
            row = [a.item()]
        elif nd == 1:
            row = a[c0:c1].tolist()
        elif nd == 2:
            row = a[r, c0:c1].tolist()
        else:
            row = a[b.lead + (r, slice(c0, c1))].tolist()
        marks = self._row_marks.get(k, {}).get(r, {})
        boxes = [bx for bx in self._row_boxes.get(k, ()) if bx[0] <= r < bx[1]]
        pads = op.pads
        pad_row = False
        pad_lo = pad_hi = 0
        if pads:
            (t, bt), (lp, rp) = pads
            pad_row = r < t or r >= b.rows - bt
            pad_lo, pad_hi = lp, b.cols - rp
        digits, cw = self.digits, b.cw
        out = []
        for j, v in enumerate(row):
            c = c0 + j
            text = fmt(v, digits)
            if len(text) >= cw:
                text = text[: cw - 2] + "…"
            role = marks.get(c)
            if role is None and boxes:
                role = next((bx[4] for bx in reversed(boxes) if bx[2] <= c < bx[3]), None)
            is_pad = bool(pads) and (pad_row or c < pad_lo or c >= pad_hi)
            if role is not None:
                name = role if role in ROLES else "used"
                if is_pad and role != "current":
                    name = "pad-used"
                style = self._style(name)
            elif is_pad:
                style = self._style("padding")
            else:
                style = base
            out.append(Segment(" " + text.rjust(cw - 1), style))
        return out

    def plain_lines(self) -> list[str]:
        """The pane as plain text (for tests and debugging)."""
        return [self.render_line(y).text for y in range(self.size.height)]

    def cell_offset(self, slot: int, index: tuple[int, ...]) -> tuple[int, int] | None:
        """Where the cell ``index`` of the operand in ``slot`` is drawn, relative to the widget
        (for clicks in tests); None if it is not on screen."""
        for b in self.blocks:
            if b.op.slot != slot:
                continue
            nd = len(b.op.shape)
            r, c = _rc(tuple(index), nd)
            if not (b.row_off <= r < b.row_off + b.vis_rows and b.col_off <= c < b.col_off + b.vis_cols):
                return None
            x = b.x + b.gutter + (c - b.col_off) * b.cw + b.cw - 1
            y = b.y + 2 + (r - b.row_off) - self.scroll
            return x + self.gutter.left, y + self.gutter.top
        return None

    def role_at(self, slot: int, index: tuple[int, ...]) -> str | None:
        """The highlight role of a cell (None if not highlighted)."""
        return self.marks.get(slot, NO_MARKS).role(index)

    # ------------------------------------------------------------------ mouse
    def _block_at(self, x: int, y: int) -> tuple[Block | None, int]:
        line = y + self.scroll
        for b in self.blocks:
            if b.y <= line < b.y + b.height and b.x <= x < b.x + b.width:
                return b, line - b.y
        return None, -1

    def on_click(self, event: events.Click) -> None:
        """A cell selects an element; ‹ › in a header changes the slice."""
        offset = event.get_content_offset(self)
        if offset is None:
            return
        b, ly = self._block_at(offset.x, offset.y)
        if b is None:
            return
        dx = offset.x - b.x
        if ly == 0:
            if b.arrows is not None:
                lo, hi = b.arrows
                if abs(dx - lo) <= 1:
                    self.post_message(self.SliceChanged(self, b.op.slot, -1))
                elif abs(dx - hi) <= 1:
                    self.post_message(self.SliceChanged(self, b.op.slot, +1))
            return
        if ly < 2 or dx < b.gutter:
            return
        r = b.row_off + ly - 2
        c = b.col_off + (dx - b.gutter) // b.cw
        if not (0 <= r < b.rows and 0 <= c < b.cols):
            return
        nd = len(b.op.shape)
        index = () if nd == 0 else (c,) if nd == 1 else tuple(b.lead) + (r, c)
        self.post_message(self.ElementClicked(self, b.op.slot, index))

    def _wheel(self, event: events.MouseEvent, delta: int) -> None:
        offset = event.get_content_offset_capture(self)
        b, _ = self._block_at(offset.x, offset.y)
        if b is not None and b.vis_rows < b.rows:
            b.row_off = max(0, min(b.rows - b.vis_rows, b.row_off + delta * 3))
            b.pinned = True
        elif self._height > self.size.height:
            self.scroll = max(0, min(self._height - self.size.height, self.scroll + delta * 2))
        else:
            return
        event.stop()
        self.refresh()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        """Scroll the block under the pointer (or the pane)."""
        self._wheel(event, 1)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        """Scroll the block under the pointer (or the pane)."""
        self._wheel(event, -1)


ROLES = ("current", "used", "weight", "argmax", "masked", "padding", "pad-used")


def _span(off: int, vis: int, total: int, lo: int, hi: int) -> int:
    """A viewport offset showing ``lo..hi`` (or as much of it as fits), moving as little as possible."""
    if vis >= total:
        return 0
    if lo >= off and hi < off + vis:
        return off
    if hi - lo + 1 >= vis or lo < off:
        new = lo
    else:
        new = hi - vis + 1
    if not (off <= lo and hi < off + vis) and (lo < off - vis or lo > off + 2 * vis):
        new = max(0, (lo + hi) // 2 - vis // 2)  # a far jump: centre it
    return max(0, min(new, total - vis))
