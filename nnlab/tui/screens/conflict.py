"""Asked on save when an answer you changed was also changed in the file meanwhile (issue 18).

Nothing is written until the user decides: keep their own answers (overwrite the
file's), keep the file's (save only the other answers), or cancel.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

Choice = Literal["mine", "file"]


class ConflictScreen(ModalScreen[Choice | None]):
    """Which answer wins for each reference changed both in the file and on screen.

    Args:
        on_disk: ref → the file's answer now.
        typed: ref → what the user typed.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "choose('mine')", "Overwrite with mine"),
        Binding("k", "choose('file')", "Keep the file's"),
        Binding("escape", "choose(None)", "Cancel"),
    ]

    def __init__(self, on_disk: dict[str, str], typed: dict[str, str], **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.on_disk = on_disk
        self.typed = typed

    def compose(self) -> ComposeResult:
        """The conflicting answers side by side, and the three choices."""
        n = len(self.on_disk)
        table = Table(box=None, padding=(0, 2), show_edge=False)
        for column in ("reference", "in the file now", "you typed"):
            table.add_column(column, style="bold" if column == "reference" else None)
        for ref, disk in self.on_disk.items():
            table.add_row(Text(ref), Text(disk), Text(self.typed[ref].strip()))
        with Vertical(id="conflict-box"):
            yield Static(Text(f"{'This answer was' if n == 1 else 'These answers were'} changed in the file "
                              "while you edited:", style="bold"), markup=False)
            yield Static(table, id="conflict-table")
            yield Static(Text("o  overwrite the file's with mine    k  keep the file's (save the rest)    "
                              "esc  cancel (nothing is written)"), id="conflict-keys", markup=False)

    def action_choose(self, choice: Choice | None) -> None:
        """Close with the user's choice."""
        self.dismiss(choice)
