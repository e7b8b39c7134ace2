"""The computational graph of a LaTeX handout as a TikZ picture.

The picture is the lab's own layout (:func:`nnlab.render.diagram.draw`, grandalf's
layered layout, carried in a :class:`~nnlab.export.document.Graph`): a box of the
text drawing becomes a TikZ node at the same grid place, and an arrow follows the
route the text drawing gives it. One grid column is the width of a 10-pt typewriter
character and one row a line, so a box's text fits it as it fits the text drawing;
the whole picture is then scaled down to fit the page (never up).
"""

from __future__ import annotations

from nnlab.export.document import Graph, GraphNode

COLUMN_PT, ROW_PT = 5.25, 12.0
"""A grid cell: the width of a character of 10-pt ``cmtt`` and the height of a 12-pt line."""
TEXT_WIDTH_PT = (210 - 2 * 20) / 25.4 * 72.27
"""The text width of the handout's page (A4, 2 cm margins: ``latex.PREAMBLE``'s geometry)."""
MAX_HEIGHT_PT = 0.8 * (297 - 2 * 20) / 25.4 * 72.27
"""The tallest picture: most of a page, so that it fits below a heading."""
TEX_LIMIT_PT = 16000.0
"""A TeX dimension must stay below 16384 pt: a larger grid is not drawn."""
TT_CHARS = {c: f"\\char{ord(c)}{{}}" for c in "\\{}_^~#%&$"}
"""Characters special to TeX, written as their glyph in the typewriter font (which has
them all at their ASCII places, as verbatim relies on), so they print and copy as themselves."""


def tt_text(text: str) -> str:
    """Plain text for a typewriter-font TikZ label: every TeX special character escaped."""
    return "".join(TT_CHARS.get(c, c) for c in text)


def scale(graph: Graph) -> float:
    """The factor that fits the picture to the text width and :data:`MAX_HEIGHT_PT` (at most 1)."""
    width, height = graph.width * COLUMN_PT, graph.height * ROW_PT
    return min(1.0, TEXT_WIDTH_PT / max(width, 1.0), MAX_HEIGHT_PT / max(height, 1.0))


def fits(graph: Graph) -> bool:
    """Whether TeX can hold the picture before it is scaled (:data:`TEX_LIMIT_PT`)."""
    return graph.width * COLUMN_PT < TEX_LIMIT_PT and graph.height * ROW_PT < TEX_LIMIT_PT


def picture(graph: Graph) -> str:
    """The ``tikzpicture`` of ``graph``, centred and scaled to fit the page."""
    lines = [f"\\begin{{center}}\\scalebox{{{scale(graph):.4f}}}{{%",
             (f"\\begin{{tikzpicture}}[x={COLUMN_PT}pt, y=-{ROW_PT}pt, "
              "font=\\ttfamily\\fontsize{10}{12}\\selectfont,"),
             "  nnbox/.style={draw, align=left, inner sep=0pt}, nnvar/.style={nnbox, rounded corners=3pt},",
             "  nnop/.style={nnbox, thick}, nnarrow/.style={->, >=stealth, rounded corners=2pt}]"]
    lines += [_node(k, node) for k, node in enumerate(graph.nodes)]
    for _a, _b, route in graph.arrows:
        lines.append("\\draw[nnarrow] " + " -- ".join(f"({x:g},{y:g})" for x, y in route) + ";")
    lines.append("\\end{tikzpicture}}\\end{center}")
    return "\n".join(lines)


def _node(k: int, node: GraphNode) -> str:
    size = f"minimum width={node.w * COLUMN_PT:g}pt, minimum height={node.h * ROW_PT:g}pt"
    text = "\\\\{}".join(tt_text(line) for line in node.lines)  # {}: a line "[0.1, 0.3]" is not \\'s [space]
    style = "nnvar" if node.variable else "nnop"
    return f"\\node[{style}, {size}] (n{k}) at ({node.x + node.w / 2:g},{node.y + node.h / 2:g}) {{{text}}};"


__all__ = ["fits", "picture", "scale", "tt_text"]
