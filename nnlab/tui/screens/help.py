"""The ``?`` screen: every key of the lab and the conventions nnlab follows."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from nnlab.tui.widgets.panes import KeyBar

EXTRA = [
    ("Tab", "focus a pane: the steps (↑↓ move a cursor, Enter jumps), the math, the notes or the epoch "
            "table (↑↓ PgUp PgDn scroll); Esc returns"),
    ("count", "digits before ] or [ jump that many epochs: 500] goes 500 epochs ahead"),
    ("click", "a step in the graph jumps to it; a cell of the result tensor selects that element"),
    ("‹ ›", "click in a tensor header to see another channel"),
    ("ctrl+p", "command palette: step: …, scenario: …"),
]

CONVENTIONS = (
    "Convolution is cross-correlation (no kernel flip), like PyTorch and the lecture.\n"
    "padding=p adds p zeros on each side; padding_total=p is the lecture's total over both sides.\n"
    "Windows are drawn on the padded input; padding cells have their own colour.\n"
    "Backward: each step adds upstream · local into its inputs' gradients; a node used twice\n"
    "collects both contributions (the tensor header says 'adds k of n').\n"
    "Arithmetic is exact (fractions of the decimals you wrote) when every op allows it, else float64."
)


class HelpScreen(ModalScreen[None]):
    """All key bindings of the lab, plus mouse and conventions."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "close", "Close", key_display="esc")]

    def __init__(self, bindings: list[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: list[tuple[str, str]] = []
        """``(keys, what they do)`` for every binding, then the mouse and palette."""
        for b in bindings:
            if "," in b.key:
                keys = " / ".join(_pretty(k) for k in b.key.split(","))
            else:
                keys = b.key_display or _pretty(b.key)
            self.rows.append((keys, b.tooltip or b.description))
        self.rows.extend(EXTRA)

    def compose(self) -> ComposeResult:
        """A table of keys and a paragraph of conventions."""
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for keys, description in self.rows:
            table.add_row(Text(keys), Text(description))
        with VerticalScroll(id="help-body"):
            yield Static(Text("nnlab — keys", style="bold"), classes="help-title")
            yield Static(table, classes="help-keys")
            yield Static(Text("conventions", style="bold"), classes="help-title")
            yield Static(Text(CONVENTIONS), classes="help-conventions")
        yield KeyBar()

    def action_close(self) -> None:
        """Back to the lab."""
        self.dismiss(None)


def _pretty(key: str) -> str:
    names = {"right_square_bracket": "]", "left_square_bracket": "[", "question_mark": "?",
             "greater_than_sign": ">", "less_than_sign": "<", "full_stop": ".", "comma": ",",
             "plus": "+", "equals_sign": "=", "minus": "-", "pagedown": "PgDn", "pageup": "PgUp",
             "home": "Home", "end": "End", "right": "→", "left": "←", "up": "↑", "down": "↓"}
    return names.get(key, key)
