"""A worked solution as a complete LaTeX document (``pdflatex``; amsmath, amssymb, geometry, longtable,
and TikZ for the graph).

Only packages of a basic TeX installation (Debian's ``texlive-latex-base``,
``texlive-latex-recommended`` and ``texlive-pictures`` for TikZ) are used. The
computational graph is a TikZ picture of the lab's layout (:mod:`nnlab.export.tikz`);
the training plots stay text, as in Markdown. Equations are inline math in their own
paragraph, so TeX can break a long sum at its ``+`` and ``=``; tensors are display
``bmatrix``. Unicode that remains in text (the author's notes, labels such as
``∂loss/∂W1``) is declared in the preamble with ``\\DeclareUnicodeCharacter``: what
pdflatex cannot typeset is never left to fail the build.
"""

from __future__ import annotations

from markdown_it import MarkdownIt

from nnlab.export import tikz
from nnlab.export.document import (
    Chart,
    Document,
    Graph,
    Heading,
    Math,
    Matrix,
    Para,
    Pre,
    Prose,
    Table,
)
from nnlab.export.markdown import matrix_latex
from nnlab.export.mathtext import GREEK, SUB, SUP, SYMBOLS, escape_code, escape_text, to_latex

SECTION = {1: "section*", 2: "section*", 3: "subsection*", 4: "subsubsection*"}
TEXT_CHARS = {
    "Σ": r"\ensuremath{\Sigma}", "Π": r"\ensuremath{\Pi}", "—": r"\textemdash{}", "–": r"\textendash{}",
    "…": r"\ldots{}", "⋯": r"\ensuremath{\cdots}", "⋮": r"\ensuremath{\vdots}", "─": "-", "│": "|",
    "└": "+", "┘": "+", "┌": "+", "┐": "+", "├": "+", "┤": "+", "┬": "+", "┴": "+", "┼": "+", "▶": ">",
    "▼": "v", "“": "``", "”": "''", "‘": "`", "’": "'", "ŷ": r"\^{y}", "✓": r"\ensuremath{\checkmark}",
    "✗": r"\ensuremath{\times}", "·": r"\ensuremath{\cdot}", "×": r"\ensuremath{\times}",
    "²": r"\ensuremath{^{2}}", "³": r"\ensuremath{^{3}}", "¹": r"\ensuremath{^{1}}", "½": r"\ensuremath{\tfrac12}",
    "\u0302": "", "\u0303": "", "\u00a0": "~",
}
PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[utf8]{inputenc}
\usepackage{amsmath,amssymb}
\usepackage[a4paper,margin=2cm]{geometry}
\usepackage{longtable}
\setcounter{MaxMatrixCols}{20}
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.4em}
\allowdisplaybreaks
\emergencystretch=3em
"""
TIKZ = r"""\newif\ifnnlabtikz
\IfFileExists{tikz.sty}{\nnlabtikztrue\usepackage{tikz}}{}
"""
"""TikZ where the TeX installation has it (Debian: ``texlive-pictures``); without it the
graph is the text drawing, so the handout compiles on a basic installation too."""


def render(doc: Document) -> str:
    """The complete ``.tex`` source of a document."""
    body: list[str] = []
    for b in doc.blocks:
        if isinstance(b, Heading):
            if b.level == 1:
                continue
            body.append(f"\\{SECTION[min(b.level, 4)]}{{{escape_text(b.text)}}}")
        elif isinstance(b, Prose):
            body.append(prose(b.markdown))
        elif isinstance(b, Para):
            body.append(escape_text(b.text) + (f"\\texttt{{{escape_code(b.code)}}}" if b.code else ""))
        elif isinstance(b, Math):
            body.append("\n\n".join(f"${to_latex(line)}$" for line in b.lines))
        elif isinstance(b, Matrix):
            body.append(f"\\[ {matrix_latex(b)} \\]")
        elif isinstance(b, Table):
            body.append(_table(b))
        elif isinstance(b, (Pre, Chart)):
            body.append("\\begin{verbatim}\n" + b.text.rstrip("\n") + "\n\\end{verbatim}")
        elif isinstance(b, Graph):
            body.append(_graph(b))
    text = "\n\n".join(body)
    pictures = any(isinstance(b, Graph) and tikz.fits(b) for b in doc.blocks)
    head = PREAMBLE + (TIKZ if pictures else "")
    head += _declarations(text + doc.title)
    return (f"{head}\\title{{{escape_text(doc.title)}}}\n\\date{{}}\n\\begin{{document}}\n\\maketitle\n\n"
            f"{text}\n\n\\end{{document}}\n")


def _graph(graph: Graph) -> str:
    """The graph as a TikZ picture, or its text drawing where TeX has no TikZ (or the grid is
    too large for TeX's dimensions)."""
    text = "\\begin{verbatim}\n" + graph.text + "\n\\end{verbatim}"
    # a skipped \if branch may hold verbatim text: TeX only skips its tokens (no \if or \fi among them)
    shown = f"\\ifnnlabtikz\n{tikz.picture(graph)}\n\\else\n{text}\n\\fi" if tikz.fits(graph) else text
    return shown + (f"\n\n{escape_text(graph.caption)}" if graph.caption else "")


def _declarations(text: str) -> str:
    """``\\DeclareUnicodeCharacter`` for every character beyond Latin-1 the document uses."""
    lines = []
    latin_a = range(0x100, 0x180)  # inputenc composes these from accents itself
    for c in sorted({c for c in text if (ord(c) > 0xFF and ord(c) not in latin_a) or c in TEXT_CHARS}):
        lines.append(f"\\DeclareUnicodeCharacter{{{ord(c):04X}}}{{{_text_char(c)}}}")
    return "\n".join(lines) + "\n" if lines else ""


def _text_char(c: str) -> str:
    if c in TEXT_CHARS:
        return TEXT_CHARS[c]
    if c in GREEK:
        return f"\\ensuremath{{{GREEK[c]}}}"
    if c in SUB:
        return f"\\ensuremath{{_{{{to_latex(SUB[c])}}}}}"
    if c in SUP:
        return f"\\ensuremath{{^{{{to_latex(SUP[c]) if SUP[c] != '⊤' else chr(92) + 'top'}}}}}"
    if c in SYMBOLS:
        return f"\\ensuremath{{{SYMBOLS[c]}}}" if SYMBOLS[c].startswith("\\") else SYMBOLS[c]
    return _drawing_char(c)


def _drawing_char(c: str) -> str:
    """A box-drawing or arrow character of a text drawing as the nearest ASCII (``-``, ``|``, ``+``, ``v``)."""
    import unicodedata

    name = unicodedata.name(c, "")
    if name.startswith("BRAILLE PATTERN"):  # a plot's dots
        return "." if c != "\u2800" else "~"
    if name.startswith("BOX DRAWINGS"):
        across, down = "HORIZONTAL" in name, "VERTICAL" in name
        return "-" if across and not down else "|" if down and not across else "+"
    if "TRIANGLE" in name or "ARROW" in name:
        return {"DOWN": "v", "UP": "\\^{}", "LEFT": "<", "RIGHT": ">"}.get(
            next((w for w in ("DOWN", "UP", "LEFT", "RIGHT") if w in name), ""), "*")
    return "?"


BLOCK_TOKENS = {
    "paragraph_close": "\n\n", "bullet_list_open": "\\begin{itemize}\n", "bullet_list_close": "\\end{itemize}\n",
    "ordered_list_open": "\\begin{enumerate}\n", "ordered_list_close": "\\end{enumerate}\n",
    "list_item_open": "\\item ", "heading_open": "\\paragraph{", "heading_close": "}\n",
}
"""Markdown block tokens (markdown-it) and the LaTeX that stands for them."""
INLINE_TOKENS = {"softbreak": "\n", "hardbreak": "\n", "strong_open": "\\textbf{", "em_open": "\\emph{",
                 "strong_close": "}", "em_close": "}"}
"""Markdown inline tokens and their LaTeX (text and code are escaped)."""


def prose(markdown: str) -> str:
    """The author's Markdown notes as LaTeX: paragraphs, lists, emphasis, code."""
    out: list[str] = []
    for tok in MarkdownIt("commonmark").parse(markdown):
        if tok.type == "inline":
            out.append(_inline(tok.children or []))
        elif tok.type in ("fence", "code_block"):
            out.append("\\begin{verbatim}\n" + tok.content.rstrip("\n") + "\n\\end{verbatim}\n")
        else:
            out.append(BLOCK_TOKENS.get(tok.type, ""))
    return "".join(out).strip()


def _inline(children: list) -> str:
    out = []
    for tok in children:
        if tok.type == "text":
            out.append(escape_text(tok.content))
        elif tok.type == "code_inline":
            out.append(f"\\texttt{{{escape_code(tok.content)}}}")
        else:
            out.append(INLINE_TOKENS.get(tok.type, ""))
    return "".join(out)


def _table(t: Table) -> str:
    cols = "l" * len(t.header)
    head = " & ".join(f"\\textbf{{{escape_text(h)}}}" for h in t.header)
    rows = "\n".join(" & ".join(escape_text(c) for c in r) + r" \\" for r in t.rows)
    return f"\\begin{{longtable}}{{{cols}}}\n{head} \\\\ \\hline\n\\endhead\n{rows}\n\\end{{longtable}}"


__all__ = ["prose", "render"]
