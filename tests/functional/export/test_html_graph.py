"""The HTML handout's computational graph: an inline SVG of the lab's layout, drawn by matplotlib.

The SVG is read back: one box per node of the run's graph at the grid place the lab's
layout (and the TikZ picture) gives it, with the node's text lines as text; one arrow
per edge, from its source's bottom edge to its target's top edge along the drawing's
route — so a node's inputs are above it. Without matplotlib the page shows the text
drawing and says once how to get pictures. In headless Chromium the picture lays out
with a nonzero size, keeps its text legible (a wide graph scrolls sideways, printed it
fits the page) and nothing is fetched.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shutil
import sys
from html import escape
from pathlib import Path

import numpy as np
import pytest

from nnlab.export import export
from nnlab.export.document import Graph, Options, graph_picture
from nnlab.export.svg import CELL_PX, FONT_PX, MIN_FONT_PX
from nnlab.library import bundled
from nnlab.render.diagram import diagram_of
from nnlab.session import open_session

SCENARIOS = {p.stem: p for p in bundled()}
LARGEST = max(SCENARIOS.values(), key=lambda p: p.stat().st_size).stem
WIDEST = "gru-step"
STEMS = sorted({"mlp-2layer-backprop", "transformer-block", "lstm-cell", WIDEST, LARGEST})
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
PAD = 0.5
"""The half cell :func:`nnlab.export.svg.graph_svg` leaves around the grid."""

needs_mpl = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                               reason="matplotlib is not installed (pip install -e '.[test]')")


@functools.cache
def session(stem: str):
    return open_session(str(SCENARIOS[stem]))


@functools.cache
def graph(stem: str) -> Graph:
    g = graph_picture(session(stem))
    assert g is not None
    return g


@functools.cache
def page(stem: str) -> str:
    return export(session(stem), "html", Options(answers=True))


def graph_svg_of(html: str) -> str:
    start = html.index('<figure class="graph">')
    return html[start:html.index("</figure>", start)]


def group(svg: str, gid: str) -> str:
    """The body of ``<g id="gid">`` (these groups hold no nested group)."""
    start = svg.index(f'<g id="{gid}">')
    return svg[start:svg.index("</g>", start)]


def points(path_d: str) -> np.ndarray:
    return np.array([[float(x), float(y)] for x, y in re.findall(r"[MLQ] ([-\d.e]+) ([-\d.e]+)", path_d)])


def px(x: float, y: float) -> tuple[float, float]:
    """A grid point in the picture's units (CSS px at its natural size)."""
    return (x + PAD) * CELL_PX[0], (y + PAD) * CELL_PX[1]


@needs_mpl
@pytest.mark.parametrize("stem", STEMS)
def test_a_box_per_node_with_its_text_where_the_layout_puts_it(stem):
    g, svg = graph(stem), graph_svg_of(page(stem))
    nodes = diagram_of(session(stem).run.graph).boxes
    assert len(re.findall(r'<g id="nnlab-graph-node-\d+">', svg)) == len(g.nodes) == len(nodes)
    for k, n in enumerate(g.nodes):
        corners = points(re.search(r'<path d="([^"]*)"', group(svg, f"nnlab-graph-node-{k}")).group(1))
        (x0, y0), (x1, y1) = px(n.x, n.y), px(n.x + n.w, n.y + n.h)
        assert np.allclose(corners.min(axis=0), (x0, y0)) and np.allclose(corners.max(axis=0), (x1, y1)), n.id
        for i, line in enumerate(n.lines):  # each line as text, on its row of the box, from its third column
            m = re.search(r'<text [^>]*x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)</text>',
                          group(svg, f"nnlab-graph-node-{k}-line-{i}"))
            assert m.group(3) == escape(line, quote=False), (n.id, i)
            assert float(m.group(1)) == pytest.approx(px(n.x + 2, 0)[0])
            assert y0 + (i + 1) * CELL_PX[1] < float(m.group(2)) < y0 + (i + 2) * CELL_PX[1]
    assert {m for m in re.findall(r'<g id="nnlab-graph-node-\d+-line-0">\s*<text[^>]*>([^<]*)</text>', svg)} == {
        escape(name, quote=False) for name in nodes}  # every node's name, once


@needs_mpl
@pytest.mark.parametrize("stem", STEMS)
def test_an_arrow_per_edge_from_input_down_to_its_user(stem):
    g, svg = graph(stem), graph_svg_of(page(stem))
    edges = diagram_of(session(stem).run.graph).edges
    assert len(re.findall(r'<g id="nnlab-graph-arrow-\d+">', svg)) == len(edges) == len(g.arrows)
    at = {n.id: n for n in g.nodes}
    for k, (a, b, route) in enumerate(g.arrows):
        line, head = re.findall(r'<path d="([^"]*)"', group(svg, f"nnlab-graph-arrow-{k}"))
        drawn, tip = points(line), points(head)[1]
        src, dst = at[a], at[b]
        assert src.y + src.h <= dst.y, (a, b)  # the input is above the node it feeds
        assert np.allclose(drawn[:-1], [px(*p) for p in route[:-1]]), (a, b)  # the drawing's route
        assert tip[0] == pytest.approx(px(*route[-1])[0])
        assert px(*route[-1])[1] - 2 < tip[1] <= px(dst.x, dst.y)[1], (a, b)  # at the target's top edge
        assert px(src.x, 0)[0] < drawn[0][0] < px(src.x + src.w, 0)[0] and drawn[0][1] == px(0, src.y + src.h)[1]


@needs_mpl
def test_boxes_left_to_right_as_in_the_layout():
    g, svg = graph("mlp-2layer-backprop"), graph_svg_of(page("mlp-2layer-backprop"))
    left = {n.id: points(re.search(r'<path d="([^"]*)"', group(svg, f"nnlab-graph-node-{k}")).group(1))[:, 0].min()
            for k, n in enumerate(g.nodes)}
    assert left["W1"] < left["x"] < left["b1"] and left["w2"] < left["a1"] < left["b2"] and left["yhat"] < left["y"]


@needs_mpl
def test_the_graph_svg_is_inline_text_and_the_same_each_time():
    html = page("transformer-block")
    svg = graph_svg_of(html)
    assert svg.count("<svg") == 1 and 'viewBox="0 0 ' in svg and 'class="nnlab-graph"' in svg
    assert "<?xml" not in html and "<metadata" not in html and "<!DOCTYPE svg" not in html
    assert "http://" not in html.replace("http://www.w3.org/1998/Math/MathML", "") and "https://" not in html
    assert "<use " not in svg and "<image" not in svg  # text as text, no glyph outlines, nothing to load
    assert re.search(r"<text [^>]*font-family: [^>]*monospace[^>]*>A\.weights</text>", svg)
    assert "<pre>" + escape(graph("transformer-block").text.splitlines()[0]) not in html  # no text drawing too
    assert "nnlab[export]" not in html
    assert export(session("transformer-block"), "html", Options(answers=True)) == page("transformer-block")


@needs_mpl
def test_labels_print_as_themselves():
    """``$`` is not matplotlib math, ``<`` and ``&`` are escaped for the page: every line reads back as written."""
    from nnlab.export.document import GraphNode
    from nnlab.export.svg import graph_svg

    odd = "a<b>&$c$"
    nodes = (GraphNode("x_1", True, ("x_1", "value · 2"), 0, 0, 24, 4),
             GraphNode(odd, False, (odd, "{op}\\~$ · $x$ scalar", "[0.5, -1]"), 0, 6, 24, 5))
    svg = graph_svg(Graph("x_1", 24, 11, nodes, (("x_1", odd, ((12.5, 4.0), (12.5, 6.0))),)))
    shown = [t.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
             for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    assert shown == [line for n in nodes for line in n.lines]


@needs_mpl
def test_size_scales_to_the_page_down_to_the_minimum_font():
    for stem in ("mlp-2layer-backprop", WIDEST):
        g, svg = graph(stem), graph_svg_of(page(stem))
        width = (g.width + 2 * PAD) * CELL_PX[0]
        head = svg[svg.index("<svg"):svg.index(">", svg.index("<svg"))]
        assert f'width="{width:.0f}"' in head
        assert f'style="min-width: {width * MIN_FONT_PX / FONT_PX:.0f}px"' in head
    assert "figure.graph svg { min-width: 0 !important;" in page(WIDEST)  # printed: fits the paper


def test_without_matplotlib_the_text_drawing_and_one_note(monkeypatch):
    for name in [m for m in list(sys.modules) if m == "matplotlib" or m.startswith("matplotlib.")] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)  # import matplotlib… raises ImportError
    html = export(session("train-perceptron-and"), "html")
    assert "<svg" not in html
    assert html.count("pip install 'nnlab[export]'") == 1
    drawing = "<pre>" + escape(graph("train-perceptron-and").text)
    assert html.index("pip install") < html.index(drawing)  # said before the first text picture, the graph
    html = export(session("mlp-2layer-backprop"), "html")
    assert "<svg" not in html and "<pre>" + escape(graph("mlp-2layer-backprop").text) + "</pre>" in html
    assert html.count("pip install 'nnlab[export]'") == 1
    assert "<p>The numbers in the boxes are the values of the forward pass.</p>" in html


# ------------------------------------------------------------------- in a real browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it as root)")
@needs_mpl
@pytest.mark.parametrize("stem", ["mlp-2layer-backprop", WIDEST])
def test_graph_svg_lays_out_in_chromium_and_fetches_nothing(stem, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    path = tmp_path / "solution.html"
    path.write_text(page(stem), encoding="utf-8")
    g = graph(stem)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1000, "height": 1300})
            requests: list[str] = []
            tab.on("request", lambda r: requests.append(r.url))
            tab.goto(path.as_uri())
            svg = tab.locator("figure.graph svg")
            assert svg.count() == 1
            box = svg.bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 200
            natural = (g.width + 2 * PAD) * CELL_PX[0]
            scale = box["width"] / natural
            assert MIN_FONT_PX / FONT_PX - 0.01 <= scale <= 1.0  # text at 8 px or more
            assert tab.locator("figure.graph text").count() == sum(len(n.lines) for n in g.nodes)
            name = tab.locator("figure.graph text", has_text=g.nodes[0].id).first.bounding_box()
            assert name is not None and name["height"] > 0
            figure = tab.locator("figure.graph")
            overflow = figure.evaluate("f => f.scrollWidth > f.clientWidth")
            assert overflow == (natural * MIN_FONT_PX / FONT_PX > figure.bounding_box()["width"])  # wide: scrolls
            assert [u for u in requests if not u.startswith("file:")] == []
            ARTIFACTS.mkdir(exist_ok=True)
            figure.screenshot(path=str(ARTIFACTS / f"export-html-graph-{stem}.png"))
            if stem == "mlp-2layer-backprop":  # the README's picture (docs/export-html.png): given values as math, the graph
                top, bottom = tab.evaluate(  # in page coordinates (the figure's screenshot scrolled the page)
                    "() => [[...document.querySelectorAll('h2')].find(h => h.textContent === 'Given')"
                    ".getBoundingClientRect().top + scrollY - 16, document.querySelector('figure.graph')"
                    ".getBoundingClientRect().bottom + scrollY + 16]")
                tab.screenshot(path=str(ARTIFACTS / "export-html-page.png"), full_page=True,
                               clip={"x": 0, "y": top, "width": 1000, "height": bottom - top})
            tab.emulate_media(media="print")
            printed = svg.bounding_box()
            assert printed["width"] <= figure.bounding_box()["width"] + 1  # on paper it fits
        finally:
            browser.close()
