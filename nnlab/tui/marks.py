"""Which cells of an operand the current element highlights, in a form the tensor pane draws.

Why a module of its own: the view model fills it and the tensor pane reads it, and the
pane's module must stay free of NumPy and the engine (it loads before any scenario).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nnlab.engine.trace import Use


class Marks(dict):
    """``index -> role`` of one operand's highlighted cells, and ``boxes``: blocks of cells an
    explanation reported as one :class:`~nnlab.engine.trace.Use` with an ``extent`` (every element
    of a ten-million-element sum), never expanded cell by cell."""

    def __init__(self, cells: dict[tuple[int, ...], str] | None = None) -> None:
        super().__init__(cells or {})
        self.boxes: list[Use] = []

    def role(self, index: tuple[int, ...]) -> str | None:
        """The role of cell ``index``: its own mark, else that of the last box covering it."""
        role = self.get(tuple(index))
        if role is None:
            role = next((b.role for b in reversed(self.boxes) if b.covers(tuple(index))), None)
        return role


NO_MARKS = Marks()
"""An operand with nothing highlighted (never filled in)."""
