"""Errors a user can cause, with the place in their file where they caused it.

Every problem with a scenario (YAML syntax, an unknown name, a shape mismatch, a NaN
appearing) is raised as :class:`NnlabError`. It carries the file, 1-based line and
column, the offending source line and a hint, so the CLI and the TUI can show
``file:line:col``, the line, a caret under the spot and a suggested fix — never a
traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class Location(NamedTuple):  # (a NamedTuple: cheaper to define and to make than a frozen dataclass)
    """A place in a scenario file.

    Attributes:
        file: Path of the file as the user gave it (or ``"<string>"``).
        line: 1-based line number, or 0 when unknown.
        col: 1-based column number, or 0 when unknown.
        source: The text of that line, for showing it with a caret.
        length: How many characters the caret underline spans.
    """

    file: str = "<string>"
    line: int = 0
    col: int = 0
    source: str = ""
    length: int = 1

    def shifted(self, chars: int, length: int = 1) -> Location:
        """The location ``chars`` characters further along the same line."""
        return Location(self.file, self.line, self.col + chars, self.source, max(1, length))


class NnlabError(Exception):
    """A problem in the user's input, reported with its location and a hint.

    Args:
        message: What is wrong, in one sentence.
        loc: Where it is, if known.
        hint: How to fix it, if a fix is likely.
        kind: A short machine-readable category (``"yaml"``, ``"name"``, ``"shape"``…).
    """

    def __init__(
        self,
        message: str,
        loc: Location | None = None,
        hint: str | None = None,
        kind: str = "error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.hint = hint
        self.kind = kind

    def with_loc(self, loc: Location | None) -> NnlabError:
        """Return this error with ``loc`` filled in if it had none."""
        if self.loc is None or self.loc.line == 0:
            self.loc = loc
        return self

    def format(self) -> str:
        """The full message: ``file:line:col: error: …``, the line, a caret, the hint."""
        loc = self.loc
        head = "error"
        if loc is not None and loc.line:
            where = f"{loc.file}:{loc.line}:{loc.col}: "
        elif loc is not None:
            where = f"{loc.file}: "
        else:
            where = ""
        lines = [f"{where}{head}: {self.message}"]
        if loc is not None and loc.line and loc.source:
            gutter = f"{loc.line:>4} | "
            source, col, length = _window(loc.source.rstrip("\n"), max(0, loc.col - 1), max(1, loc.length))
            lines.append(gutter + source)
            pad = " " * (len(gutter) - 2) + "| "
            lines.append(pad + " " * col + "^" * length)
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        """A JSON-friendly form of the error."""
        loc = self.loc or Location()
        return {
            "error": self.message,
            "kind": self.kind,
            "file": loc.file,
            "line": loc.line,
            "col": loc.col,
            "source": loc.source,
            "hint": self.hint,
        }

    def __str__(self) -> str:
        return self.format()


SHOWN_WIDTH = 100
"""A source line longer than this is shown as a window around the error's column."""


def _window(source: str, col: int, length: int) -> tuple[str, int, int]:
    """The part of a long line around ``col`` (with … where cut), the column and caret length in it."""
    if len(source) <= SHOWN_WIDTH:
        return source, col, length
    start = max(0, min(col - SHOWN_WIDTH // 3, len(source) - SHOWN_WIDTH))
    end = start + SHOWN_WIDTH
    text = ("…" if start else "") + source[start:end] + ("…" if end < len(source) else "")
    col = col - start + (1 if start else 0)
    return text, col, max(1, min(length, len(text) - col))


def closest(word: str, candidates: Iterable[str], cutoff: float = 0.5) -> str | None:
    """The candidate most similar to ``word``, or None if nothing is close."""
    pool = list(candidates)
    lowered = {c.lower(): c for c in pool}
    if word.lower() in lowered:
        return lowered[word.lower()]
    import difflib  # only when there is a mistake to name

    match = difflib.get_close_matches(word, pool, n=1, cutoff=cutoff)
    return match[0] if match else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A ``did you mean 'x'?`` hint, or None."""
    best = closest(word, candidates)
    return f"did you mean '{best}'?" if best else None
