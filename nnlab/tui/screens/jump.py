"""``g``: jump to a node by name (``z1``, ``∂loss/∂z1``, ``grad(W1)`` or a step number)."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option


class JumpScreen(ModalScreen[int | None]):
    """A filter box over the trace's steps; Enter jumps to the chosen one."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel"),
                Binding("down", "move(1)", "Down", show=False),
                Binding("up", "move(-1)", "Up", show=False)]

    def __init__(self, model: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model

    def compose(self) -> ComposeResult:
        """Input above the matching steps."""
        with Vertical(id="jump-box"):
            yield Static(Text("go to a node (name, ∂loss/∂name, grad(name) or step number)"), classes="jump-title")
            yield Input(placeholder="z1", id="jump-input", compact=True)
            yield OptionList(id="jump-list")

    def on_mount(self) -> None:
        """Fill the list with every step."""
        self._fill("")

    def _fill(self, query: str) -> None:
        ol = self.query_one(OptionList)
        ol.clear_options()
        q = query.strip().lower()
        opts = []
        for k in range(len(self.model.steps)):
            if len(opts) >= 500:
                break
            s = self.model.steps[k]
            label = f"{s.index + 1:>3}  {s.phase:<8} {s.label}"
            if q and q not in s.label.lower() and q not in s.node.lower() and q != str(s.index + 1):
                continue
            opts.append(Option(Text(label), id=str(s.index)))
        ol.add_options(opts[:500])
        if opts:
            ol.highlighted = 0

    @on(Input.Changed, "#jump-input")
    def filter_steps(self, event: Input.Changed) -> None:
        """Narrow the list as the user types."""
        self._fill(event.value)

    @on(Input.Submitted, "#jump-input")
    def jump_to_typed(self, event: Input.Submitted) -> None:
        """Enter: the exact name if it names a step, else the highlighted match."""
        found = self.model.step_for_name(event.value)
        if found is None:
            ol = self.query_one(OptionList)
            if ol.highlighted is not None and ol.option_count:
                found = int(ol.get_option_at_index(ol.highlighted).id)
        if found is None:
            self.notify(f"no step named {event.value!r}", severity="warning")
            return
        self.dismiss(found)

    @on(OptionList.OptionSelected)
    def jump_to_option(self, event: OptionList.OptionSelected) -> None:
        """A click (or Enter) on a listed step."""
        self.dismiss(int(event.option.id))

    def action_move(self, delta: int) -> None:
        """Move the highlight while typing."""
        ol = self.query_one(OptionList)
        if ol.option_count:
            h = ol.highlighted or 0
            ol.highlighted = max(0, min(ol.option_count - 1, h + delta))

    def action_cancel(self) -> None:
        """Close without jumping."""
        self.dismiss(None)
