"""Worked solutions of a scenario as Markdown, LaTeX or HTML (``nnlab export``, the lab's palette).

:mod:`~nnlab.export.document` decides what a handout says, from the session; the
format modules only spell it. See :func:`export`.
"""

from __future__ import annotations

from typing import Any

from nnlab.export.document import Document, Options, build

FORMATS = ("md", "tex", "html")
"""The formats, by file extension."""


def export(session: Any, fmt: str, options: Options | None = None) -> str:
    """The worked solution of ``session`` in format ``fmt`` (``"md"``, ``"tex"`` or ``"html"``)."""
    doc = build(session, options or Options())
    if fmt == "md":
        from nnlab.export.markdown import render
    elif fmt == "tex":
        from nnlab.export.latex import render
    elif fmt == "html":
        from nnlab.export.html import render
    else:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    return render(doc)


__all__ = ["FORMATS", "Document", "Options", "build", "export"]
