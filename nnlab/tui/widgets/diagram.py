"""The graph view: the computational graph drawn as boxes and arrows, the current step lit.

The drawing itself (layout, boxes, arrows, which cells belong to what) is made by
:mod:`nnlab.render.diagram`, the same one ``nnlab graph`` prints; this widget only
paints it, one row at a time (Line API), with a style per role, and follows the
lab's step. The layout runs in a thread worker when a model arrives (or, if the view
is hidden then, when it is first shown), so opening the view never holds up a key press.

Three forms are laid out: ``"full"`` (name, op and shape, small numbers),
``"boxes"`` (the same without numbers) and the collapsed ``"names"`` (names only).
``detail = "auto"`` shows the fullest that fits the pane whole, else the fullest that
fits its width (and scrolls down), else the names. Clicking a box jumps to its step
(:class:`DiagramView.StepSelected`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events, work
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import Worker, WorkerState

from nnlab.render.roles import ROLES
from nnlab.tui.widgets.panes import OncePerPaint, readable

MIN_FIT_WIDTH = 24
"""The narrowest a fitted pane gets (room for its title and a note)."""

NUMBER_CACHE = 16
"""Number lines kept (run × values/gradients × example × digits)."""


class DiagramView(OncePerPaint, ScrollView, can_focus=False):
    """The computational graph of the loaded run, drawn top-down, following the lab's step."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"diagram-view--{role}" for role in ROLES} | {"diagram-view--note"}

    detail: reactive[str] = reactive("auto")
    """``"auto"`` (the fullest form that fits the pane, see above), ``"full"``, ``"boxes"`` or ``"names"``."""

    @dataclass
    class StepSelected(Message):
        """A box was clicked: jump to ``step`` (the step of ``node``)."""

        view: DiagramView
        step: int
        node: str

        @property
        def control(self) -> DiagramView:
            """The graph view."""
            return self.view

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model: Any = None
        self.diagram: Any = None
        self.drawings: dict[str, Any] = {}
        """The laid-out forms by name: ``"full"``, ``"boxes"``, ``"names"``."""
        self.frame: Any = None
        """What the current step lights (a :class:`nnlab.render.diagram.Frame`; None before the first drawing)."""
        self.step = 0
        self.note = "drawing the graph…"
        self._where: tuple[int, int, int] | None = None  # (step, example, digits) to show
        self._numbers: OrderedDict[tuple, dict] = OrderedDict()
        self._progress: dict[int, Any] = {}
        self._styles: dict[str, Style] = {}
        self._rows: dict[int, Strip] = {}
        self._painted: Any = None  # the drawing the cached rows belong to
        self._shown = False  # the frame painted is the one for _where
        self._asked: Any = None  # the model whose layout was asked for
        self.fit_width = False
        """Beside the steps (set by the lab): take the columns the fullest drawing needs, so a small
        graph is drawn in full and leaves the rest to the tensors and the math."""

    def on_mount(self) -> None:
        """Name the pane."""
        self.border_title = "graph"

    # ------------------------------------------------------------------ model and step
    def set_model(self, model: Any) -> None:
        """Lay out ``model``'s graph (in a worker) — now if the view is shown, else when it is first
        shown (a lab that starts without it spends nothing on a layout); the last drawing stays
        until the new one is ready."""
        self.model = model
        self._shown = False
        self._numbers.clear()
        self._progress.clear()
        if self.display:
            self._lay_out()

    def _lay_out(self) -> None:
        if self.model is not None and self._asked is not self.model:
            self._asked = self.model
            self._layout(self.model)

    @work(thread=True, exclusive=True, exit_on_error=False, group="diagram")
    def _layout(self, model: Any) -> tuple:
        from nnlab.render import diagram as dg

        diagram = dg.diagram_of(model.run.graph)
        room = dg.room_for_numbers(diagram, model.run)
        return model, diagram, dg.draw_forms(diagram, room)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show a finished layout (or say why there is none)."""
        if event.worker.group != "diagram":
            return
        event.stop()
        if event.state == WorkerState.SUCCESS:
            model, diagram, drawings = event.worker.result
            if model is self.model:
                self.diagram, self.drawings = diagram, drawings
                self.fit()
                self._apply()
        elif event.state == WorkerState.ERROR:
            self.note = f"no drawing: {event.worker.error}"
            self.refresh()

    def fit(self) -> None:
        """Size the pane to the fullest drawing (plus border and a scrollbar) when :attr:`fit_width`
        asks for it and that takes at most half the screen; else the stylesheet's share."""
        full = self.drawings.get("full") if self.fit_width else None
        want = full.width + self.styles.gutter.width + 1 if full is not None else None
        if want is not None and self.screen is not None and want > self.screen.size.width // 2:
            want = None  # a big graph: the pane's share of the screen, and the auto form that fits it
        self.styles.width = None if want is None else max(want, MIN_FIT_WIDTH)  # None: the stylesheet's 1fr

    @property
    def drawing(self) -> Any:
        """The form shown now (None before the first layout)."""
        if not self.drawings:
            return None
        if self.detail in self.drawings:
            return self.drawings[self.detail]
        region = self.region.shrink(self.styles.gutter).size  # the room inside the border, scrollbars or not
        forms = list(self.drawings.values())
        whole = [d for d in forms if d.width <= region.width and d.height <= region.height]
        fits = [d for d in forms if d.width <= region.width - 1]  # beside a vertical scrollbar
        return (whole or fits or [self.drawings["names"]])[0]

    def show_step(self, step: int, example: int = 0, digits: int = 4) -> None:
        """Light ``step`` of the model (values for forward/update steps, gradients for backward ones)."""
        if (step, example, digits) == self._where and self._painted is not None and self._shown:
            return  # another element of the same step: the drawing does not change
        self._where = (step, example, digits)
        self._shown = False
        if self.drawings and self.display:
            self._apply()

    def _apply(self) -> None:
        if self._where is None or self.model is None or self.diagram is None:
            self.refresh()
            return
        from nnlab.render import diagram as dg

        step, example, digits = self._where
        m = self.model
        step = max(0, min(step, len(m.steps) - 1))
        self.step = step
        st = m.steps[step]
        run, inner = m.context(step)
        kind = "grad" if inner is not None and inner.phase == "backward" else "value"
        drawing = self.drawing
        progress = self._progress.get(id(run.steps))
        if progress is None:
            progress = self._progress[id(run.steps)] = dg.progress_of(self.diagram, run.steps)
        key = (id(run), kind, example, digits)
        numbers = self._numbers.get(key) if drawing.value_slots else {}
        if numbers is None:
            numbers = self._numbers[key] = dg.run_numbers(self.diagram, run, kind, example, digits)
            while len(self._numbers) > NUMBER_CACHE:
                self._numbers.popitem(last=False)
        self._shown = True
        old, self.frame = self.frame, dg.frame_at(self.diagram, drawing, progress, inner or st, numbers)
        if drawing is self._painted and not self.note:  # same picture: repaint only the rows that changed
            self._repaint(drawing.changed_rows(old, self.frame))
        else:
            self._painted, self.note = drawing, ""
            self._rows.clear()
            self.virtual_size = Size(drawing.width, drawing.height)
            self.refresh()
        self._follow()

    def _repaint(self, rows: set[int]) -> None:
        """Forget and refresh ``rows`` of the drawing (those on screen are painted again)."""
        top, height = int(self.scroll_y), self.scrollable_content_region.height
        for row in rows:
            self._rows.pop(row, None)
        shown = sorted(r for r in rows if top <= r < top + height)
        start = 0
        for k in range(1, len(shown) + 1):  # one refresh per run of neighbouring rows
            if k == len(shown) or shown[k] != shown[k - 1] + 1:
                self.refresh_lines(shown[start], shown[k - 1] - shown[start] + 1)
                start = k

    def _follow(self) -> None:
        """Scroll the lit boxes into view (the step's box first)."""
        drawing = self._painted
        if drawing is None:
            return
        places = [drawing.boxes[b] for b in (*self.frame.lit, *self.frame.source) if b in drawing.boxes]
        if not places:
            return
        x0 = min(p.x for p in places)
        y0 = min(p.y for p in places)
        x1 = max(p.x + p.w for p in places)
        y1 = max(p.y + p.h for p in places)
        view = self.scrollable_content_region.size
        if not view.width or not view.height:
            return
        seen = Region(int(self.scroll_x), int(self.scroll_y), view.width, view.height)
        if seen.contains_region(Region(x0, y0, x1 - x0, y1 - y0)):
            return
        # centre the lit boxes, or as much of them as fits, top-left first
        x = x0 - max(0, (view.width - (x1 - x0)) // 2)
        y = y0 - max(0, (view.height - (y1 - y0)) // 2)
        self.scroll_to(max(0, x), max(0, y), animate=False, immediate=True)

    def watch_detail(self) -> None:
        """Another form: repaint and re-follow."""
        if self.drawings:
            self._apply()

    def on_resize(self) -> None:
        """The auto form may change with the width."""
        if self.drawings:
            self._apply()

    def on_show(self) -> None:
        """Lay out a model that arrived while hidden, or catch up with steps taken while hidden."""
        self._lay_out()
        if self.drawings:
            self._apply()

    # ------------------------------------------------------------------ painting
    def notify_style_update(self) -> None:
        """Theme or CSS changed: forget the cached styles and rows."""
        super().notify_style_update()
        self._styles = {}
        self._rows = {}

    def _style(self, role: str) -> Style:
        style = self._styles.get(role)
        if style is None:
            base = self.rich_style
            style = base if not role else base + self.get_component_rich_style(f"diagram-view--{role}")
            if role in ("lit", "lit-name"):  # text in black or white, whichever reads on the accent (WCAG ≥ 4.5:1)
                style = readable(style)
            self._styles[role] = style
        return style

    def render_line(self, y: int) -> Strip:
        """One row of the drawing, cropped to the horizontal scroll."""
        width = self.width_and_base()[0]
        drawing = self._painted  # the form chosen by the last _apply (choosing is not free)
        if drawing is None or self.note:
            if y == 0 and self.note:
                return Strip([Segment(self.note[:width], self._style("note"))]).extend_cell_length(width,
                                                                                              self._style(""))
            return Strip.blank(width, self._style(""))
        from nnlab.render.diagram import paint_row

        row = y + int(self.scroll_y)
        strip = self._rows.get(row)
        if strip is None:
            strip = Strip([Segment(text, self._style(role)) for text, role in paint_row(drawing, self.frame, row)])
            self._rows[row] = strip
        x = int(self.scroll_x)
        return strip.crop_extend(x, x + width, self._style(""))

    # ------------------------------------------------------------------ input
    def on_click(self, event: events.Click) -> None:
        """Jump to the step of the clicked box."""
        drawing, offset = self._painted, event.get_content_offset(self)
        if drawing is None or offset is None or self.model is None:
            return
        box = drawing.box_at(offset.x + int(self.scroll_x), offset.y + int(self.scroll_y))
        if box is None:
            return
        from nnlab.render.diagram import step_for_box

        step = step_for_box(self.diagram, self.model.steps, self.step, box)
        if step is not None:
            self.post_message(self.StepSelected(self, step, box))
