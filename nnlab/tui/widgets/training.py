"""The training overview beside the steps: a per-epoch table and the plot pane.

:class:`EpochTable` lists every epoch — mistakes (perceptron) or loss (gd) and the
parameters at its end — with the current epoch lit. It is a Line-API widget that
reads only the rows on screen, so a 10,000-epoch training costs what 20 rows cost
(the parameters of an epoch are looked up, and cached, when its row is drawn).

:class:`PlotPane` draws a :class:`nnlab.render.plots.Plot` with textual-plotext's
``PlotextPlot`` (plotext inside Textual). It is imported only when the user first
asks for a plot, so the first frame of the lab never loads plotext.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.segment import Segment
from textual.binding import BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from nnlab.tui.widgets.panes import SCROLL_BINDINGS, OncePerPaint


class EpochTable(OncePerPaint, ScrollView, can_focus=True, inherit_bindings=False):
    """One row per epoch: ``epoch  mistakes|loss  parameters at its end``; the current epoch lit."""

    BINDINGS: ClassVar[list[BindingType]] = [*SCROLL_BINDINGS]
    FOCUS_ON_CLICK = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {"epoch-table--head", "epoch-table--current", "epoch-table--clean"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: list[tuple[int, Any]] = []
        self.what = "loss"
        self.params_at: Any = None  # epoch -> text of the parameters at its end
        self.current = 0
        self._params: dict[int, str] = {}

    def set_rows(self, rows: list[tuple[int, Any]], what: str, params_at: Any) -> None:
        """Show ``(epoch, value)`` rows; ``params_at(epoch)`` gives the parameters' text."""
        self.rows, self.what, self.params_at = rows, what, params_at
        self._params = {}
        self.virtual_size = Size(200, len(rows) + 1)
        self.refresh()

    def show_epoch(self, epoch: int | None) -> None:
        """Light ``epoch`` and keep it in view."""
        if epoch == self.current:
            return
        self.current = epoch or 0
        k = self.current  # row k + 1 (the head is row 0) shows epoch k
        h = self.scrollable_content_region.height
        if h and not (self.scroll_y + 1 <= k < self.scroll_y + h):
            self.scroll_to(None, max(0, k - h // 2), animate=False, immediate=True)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        """The head (row 0, pinned) or one epoch."""
        width, base = self.width_and_base()
        if y == 0:
            head = f"{'epoch':>6}  {self.what:>9}  parameters at its end"
            return Strip([Segment(head[:width], self.get_component_rich_style("epoch-table--head"))]
                          ).extend_cell_length(width, base)
        k = y - 1 + int(self.scroll_y)
        if k >= len(self.rows):
            return Strip.blank(width, base)
        epoch, value = self.rows[k]
        params = self._params.get(epoch)
        if params is None and self.params_at is not None:
            params = self._params[epoch] = self.params_at(epoch)
        from nnlab.numfmt import fmt

        cell = str(value) if isinstance(value, int) else fmt(value, 4)
        text = f"{epoch:>6}  {cell:>9}  {params or ''}"
        style = base
        if epoch == self.current:
            style = self.get_component_rich_style("epoch-table--current")
        elif self.what == "mistakes" and value == 0:
            style = base + self.get_component_rich_style("epoch-table--clean", partial=True)
        return Strip([Segment(text[:width], style)]).extend_cell_length(width, style)

    def action_leave(self) -> None:
        """Give the arrow keys back to element stepping."""
        self.screen.set_focus(None)


def plot_pane(**kwargs: Any) -> Any:
    """A textual-plotext ``PlotextPlot`` that draws :class:`~nnlab.render.plots.Plot` records
    (made here, on first use: importing textual_plotext loads plotext)."""
    from textual_plotext import PlotextPlot

    class PlotPane(PlotextPlot, can_focus=False):
        """The lab's plot: loss, decision boundary, attention or gradient sizes (``v`` cycles)."""

        DEFAULT_CSS = ""

        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.shown: Any = None
            """The :class:`~nnlab.render.plots.Plot` drawn now."""

        def show(self, plot: Any) -> None:
            """Draw ``plot`` (the heat map of attention as its text grid under plotext's map)."""
            from nnlab.render.plots import draw

            self.shown = plot
            self.border_title = plot.title
            self.border_subtitle = "  ".join(n for n in plot.notes if n)[:200]
            draw(self.plt, plot)
            self.refresh()

    return PlotPane(**kwargs)


__all__ = ["EpochTable", "plot_pane"]
