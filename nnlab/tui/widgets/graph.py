"""The graph pane: every step of the run in order, the current one highlighted.

Forward steps (``z1 = W1 @ x + b1`` with their shape; unnamed sub-expressions
indented), then backward steps (``∂loss/∂z1``), then — for training — update steps
grouped under ``epoch`` / ``update`` headers. Steps after the current one are dimmed
("not reached yet"). A scenario meant to fail (``expect: {error: shape}``) ends with
the line it stops at, marked ``✗`` with the kind of error. A Line-API widget: a trace with thousands of training steps
repaints only the visible rows.

Clicking a step jumps to it. With the pane focused (Tab), Up/Down move a cursor and
Enter jumps, so the arrow keys keep meaning "element" everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from nnlab.tui.widgets.panes import OncePerPaint, readable


class GraphView(OncePerPaint, ScrollView, can_focus=True, inherit_bindings=False):
    """The list of steps (a trace), grouped by phase (and epoch/update when training)."""

    FOCUS_ON_CLICK = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Cursor up", show=False),
        Binding("down", "cursor(1)", "Cursor down", show=False),
        Binding("enter", "select", "Jump here", tooltip="Jump to the step under the cursor"),
        Binding("escape", "leave", "Back to elements", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "graph-view--header",
        "graph-view--header-forward",
        "graph-view--header-backward",
        "graph-view--header-update",
        "graph-view--current",
        "graph-view--unreached",
        "graph-view--sub",
        "graph-view--shape",
        "graph-view--cursor",
        "graph-view--failed",
    }

    current: reactive[int] = reactive(0, repaint=False)
    """Index of the current step (owned by the lab screen; mirrored here)."""

    @dataclass
    class StepSelected(Message):
        """The user picked a step by click or Enter."""

        graph: GraphView
        step: int

        @property
        def control(self) -> GraphView:
            """The graph view."""
            return self.graph

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: Any = []
        self.cursor_row = 0

    def set_rows(self, rows: list[Any], current: int) -> None:
        """Show ``rows`` (from the model) with step ``current`` highlighted."""
        self.rows = rows
        self.virtual_size = Size(rows.width, len(rows))
        self.set_reactive(GraphView.current, current)
        self.cursor_row = self._row_of(current)
        self.refresh()
        self.call_after_refresh(self._follow)

    def _row_of(self, step: int) -> int:
        return self.rows.row_of_step(step) if self.rows else 0

    def watch_current(self, old: int, new: int) -> None:
        """Repaint the rows whose style changed and keep the current one in view."""
        self.cursor_row = self._row_of(new)
        for row in {self._row_of(old), self._row_of(new)}:  # the two rows whose style changed, not
            self.refresh_lines(row, 1)                        # every row between them (End: 160,000)
        self._follow()

    def _follow(self) -> None:
        row = self._row_of(self.current)
        h = self.scrollable_content_region.height
        if not h:
            return
        y = int(self.scroll_y)
        if row < y + 1 or row >= y + h - 1:
            target = max(0, row - h // 3)
            if row < y + 1:
                target = max(0, row - 2)
            # show the phase header above when scrolling back to the top of a group
            self.scroll_to(None, target, animate=False, immediate=True)

    def on_resize(self) -> None:
        """Keep the current step visible after a resize."""
        self._follow()

    def render_line(self, y: int) -> Strip:
        """One row: a header or a step (label left, shape right)."""
        width, base = self.width_and_base()
        k = y + int(self.scroll_y)
        if k >= len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[k]
        if row.kind == "header":
            name = f"graph-view--header-{row.phase}" if row.phase else "graph-view--header"
            try:
                style = self.get_component_rich_style(name)
            except KeyError:
                style = self.get_component_rich_style("graph-view--header")
            indent = " " * min(row.level, 2) if row.phase == "" else ""
            text = f"{indent}{row.text}"
            return Strip([Segment(text[:width], style)]).extend_cell_length(width, style)
        current = row.step == self.current
        if current:
            style = readable(self.get_component_rich_style("graph-view--current"))
            shape_style = style
        else:
            style = base
            if row.sub:
                style = style + self._overlay("graph-view--sub")
            shape_style = style + self._overlay("graph-view--shape")
            if row.kind == "failed":  # the line the run stops at: never dimmed, it is what the scenario is about
                style = shape_style = style + self._overlay("graph-view--failed")
            elif row.step > self.current:
                style = style + self._overlay("graph-view--unreached")
                shape_style = shape_style + self._overlay("graph-view--unreached")
        if self.has_focus and k == self.cursor_row and not current:
            style = style + self._overlay("graph-view--cursor", background=True)
            shape_style = style
        marker = "▶ " if current else "  "
        indent = "  " if row.sub else ""
        label = f"{marker}{indent}{row.text}"
        shape = f" {row.shape} "
        if row.kind == "failed" and len(label) + len(shape) > width:  # narrow: "shape" says it, the line must show
            shape = f" {row.shape.split()[0]} "
        room = width - len(shape)
        if len(label) > room:
            label = label[: max(0, room - 1)] + "…"
        segs = [Segment(label.ljust(room), style), Segment(shape, shape_style)]
        return Strip(segs).crop_extend(0, width, Style.null() if current else base)

    def _overlay(self, name: str, background: bool = False) -> Style:
        """A component's colour and text style, to lay over a row's style.

        (Textual's ``partial`` rich styles drop the alpha blending of colours such as
        ``$text-disabled``, so the blended colour is taken from the full style.)
        """
        full = self.get_component_rich_style(name)
        return Style(color=full.color, bgcolor=full.bgcolor if background else None, bold=full.bold,
                     italic=full.italic, underline=full.underline)

    # ------------------------------------------------------------------ input
    def on_click(self, event: events.Click) -> None:
        """Jump to the clicked step."""
        offset = event.get_content_offset(self)
        if offset is None:
            return
        k = offset.y + int(self.scroll_y)
        if 0 <= k < len(self.rows) and self.rows[k].kind != "header":
            self.post_message(self.StepSelected(self, self.rows[k].step))

    def action_cursor(self, delta: int) -> None:
        """Move the cursor to the next/previous step row."""
        k = self.cursor_row + delta
        while 0 <= k < len(self.rows) and self.rows[k].kind == "header":
            k += delta
        if 0 <= k < len(self.rows):
            old, self.cursor_row = self.cursor_row, k
            self.refresh_lines(min(old, k), abs(old - k) + 1)
            h = self.scrollable_content_region.height
            if k < self.scroll_y or k >= self.scroll_y + h:
                self.scroll_to(None, max(0, k - h // 2), animate=False, immediate=True)

    def action_select(self) -> None:
        """Jump to the step under the cursor."""
        if 0 <= self.cursor_row < len(self.rows) and self.rows[self.cursor_row].kind != "header":
            self.post_message(self.StepSelected(self, self.rows[self.cursor_row].step))

    def action_leave(self) -> None:
        """Give the arrow keys back to element stepping."""
        self.screen.set_focus(None)

    def on_focus(self) -> None:
        """Show the cursor."""
        self.cursor_row = self._row_of(self.current)
        self.refresh()

    def on_blur(self) -> None:
        """Hide the cursor."""
        self.refresh()
