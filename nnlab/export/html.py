"""A worked solution as one self-contained HTML page: math as MathML, no script, no font, no link.

Browsers render MathML natively, so the page needs nothing from the network: it
opens offline, prints as it shows (a print stylesheet keeps a step on one page where
it fits), and can be mailed as one file. The math is the Markdown's LaTeX (the same
:func:`~nnlab.export.mathtext.to_latex` text) converted by ``latex2mathml``. The
training plots are inline SVG drawn by matplotlib (:mod:`nnlab.export.svg`); without
matplotlib they are the text plots of the Markdown, and the page says how to get pictures.
So is the computational graph: the lab's layout (:func:`nnlab.export.svg.graph_svg`, the
boxes and arrows the TikZ picture has), or its text drawing without matplotlib.
"""

from __future__ import annotations

from html import escape

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
from nnlab.export.mathtext import to_latex

STYLE = """
body { font-family: Georgia, "Times New Roman", serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.45; color: #111; background: #fff; }
h1 { font-size: 1.7rem; } h2 { border-bottom: 1px solid #999; margin-top: 2rem; } h3 { margin-bottom: .3rem; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; }
pre { background: #f4f4f4; padding: .6rem; overflow-x: auto; line-height: 1.2; }
p.eq { margin: .15rem 0; overflow-x: auto; } div.matrix { margin: .5rem 0 .8rem 1.5rem; overflow-x: auto; }
table { border-collapse: collapse; margin: .5rem 0; } th, td { border: 1px solid #bbb; padding: .2rem .5rem;
       text-align: left; font-variant-numeric: tabular-nums; }
section.step { break-inside: avoid; page-break-inside: avoid; }
figure.plot { margin: .8rem 0; break-inside: avoid; } figure.plot svg { max-width: 100%; height: auto; }
figure.graph { margin: .8rem 0; overflow-x: auto; } figure.graph svg { display: block; max-width: 100%; height: auto; }
figure.graph figcaption { font-size: .9em; color: #444; }
p.note { font-size: .9em; color: #444; }
@media print { body { max-width: none; margin: 0; font-size: 10.5pt; } h2 { break-after: avoid; }
       pre, p.eq, div.matrix { overflow: visible; white-space: pre-wrap; }
       figure.graph { overflow: visible; } figure.graph svg { min-width: 0 !important; max-height: 24cm; } }
"""


def mathml(latex: str, display: bool = False) -> str:
    """LaTeX math as a MathML ``<math>`` element."""
    from latex2mathml.converter import convert

    return convert(latex, display="block" if display else "inline")


def render(doc: Document) -> str:
    """The complete HTML page of a document."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    body: list[str] = []
    in_step = False
    noted = False  # the note on getting pictures goes once, before the first text plot
    for b in doc.blocks:
        if isinstance(b, Heading):
            if in_step:
                body.append("</section>")
                in_step = False
            if b.level == 3:
                body.append('<section class="step">')
                in_step = True
            body.append(f"<h{b.level}>{escape(b.text)}</h{b.level}>")
        elif isinstance(b, Prose):
            body.append(md.render(b.markdown))
        elif isinstance(b, Para):
            body.append(f"<p>{escape(b.text)}" + (f"<code>{escape(b.code)}</code>" if b.code else "") + "</p>")
        elif isinstance(b, Math):
            body.extend(f'<p class="eq">{mathml(to_latex(line))}</p>' for line in b.lines)
        elif isinstance(b, Matrix):
            body.append(f'<div class="matrix">{mathml(matrix_latex(b), display=True)}</div>')
        elif isinstance(b, Table):
            head = "".join(f"<th>{escape(h)}</th>" for h in b.header)
            rows = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in b.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(b, Pre):
            body.append(f"<pre>{escape(b.text)}</pre>")
        elif isinstance(b, (Graph, Chart)):
            shown, pictured = graph(b) if isinstance(b, Graph) else chart(b)
            if not pictured and not noted:
                body.append(f'<p class="note">{NO_PICTURES}</p>')
                noted = True
            body.append(shown)
    if in_step:
        body.append("</section>")
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(doc.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


NO_PICTURES = ("The pictures are text here: <code>pip install 'nnlab[export]'</code> (matplotlib) "
               "draws the graph and the plots as pictures.")
"""The one line said, once, where matplotlib is missing."""


def graph(block: Graph) -> tuple[str, bool]:
    """The computational graph as an inline SVG ``<figure>``, and True; without matplotlib its text drawing, and False."""
    from nnlab.export.svg import graph_svg

    caption = f"<figcaption>{escape(block.caption)}</figcaption>" if block.caption else ""
    try:
        return f'<figure class="graph">{graph_svg(block)}{caption}</figure>', True
    except ImportError:
        return f"<pre>{escape(block.text)}</pre>" + (f"<p>{escape(block.caption)}</p>" if block.caption else ""), False


def chart(block: Chart) -> tuple[str, bool]:
    """A training plot as an inline SVG ``<figure>``, and True; without matplotlib its text plot, and False."""
    from nnlab.export.svg import plot_svg

    try:
        return f'<figure class="plot">{plot_svg(block.plot)}</figure>', True
    except ImportError:
        return f"<pre>{escape(block.text.rstrip())}</pre>", False


__all__ = ["chart", "graph", "mathml", "render"]
