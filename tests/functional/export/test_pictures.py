"""The handouts' pictures: the graph as TikZ in LaTeX, the training plots as inline SVG in HTML.

The TikZ picture is the lab's layout (``nnlab.render.diagram``): the tests check that
every box and arrow of the drawing is in it where the drawing puts it, that it compiles
with ``pdflatex`` for representative scenarios (the largest bundled one included) and
that the PDF shows the boxes' text; where TeX has no TikZ the handout falls back to the
text drawing, and that compiles too. The SVG plots are read back: the loss line's points
are the trace's losses (an affine image of them: the axes' scale), the update points and
the data points are all there, the stop reason is text of the picture; without
matplotlib the page shows the text plots and says once how to get pictures.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnlab.export import export, tikz
from nnlab.export.document import Document, Graph, GraphNode, Heading, Options, graph_picture
from nnlab.export.latex import render as render_tex
from nnlab.export.svg import gid
from nnlab.library import bundled
from nnlab.render import plots
from nnlab.render.diagram import diagram_of
from nnlab.session import open_session
from tests.helpers import imports_package, modules_loaded_by

SCENARIOS = sorted(bundled(), key=lambda p: p.stem)
IDS = [p.stem for p in SCENARIOS]
LARGEST = max(SCENARIOS, key=lambda p: p.stat().st_size).stem
TRAINING = ["train-perceptron-and", "train-mlp-xor-gd", "train-sgd-minibatch", "train-perceptron-xor"]
ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts"


@functools.cache
def session(stem: str):
    return open_session(str(next(p for p in SCENARIOS if p.stem == stem)))


@functools.cache
def graph(stem: str) -> Graph:
    g = graph_picture(session(stem))
    assert g is not None, f"{stem}: no graph picture"
    return g


# ------------------------------------------------------------------- the layout reused


@pytest.mark.parametrize("stem", IDS)
def test_graph_picture_is_the_labs_layout(stem):
    """Every box of the lab's drawing, at its grid place; every arrow, from its source's bottom
    edge to its target's top edge, running down and sideways only (the text drawing's route)."""
    g, diagram = graph(stem), diagram_of(session(stem).run.graph)
    assert {n.id for n in g.nodes} == set(diagram.boxes)
    assert [(a, b) for a, b, _ in g.arrows] == list(diagram.edges)
    at = {n.id: n for n in g.nodes}
    for n in g.nodes:
        assert n.lines[0] == n.id and n.lines[1].startswith(diagram.boxes[n.id].op[:20])
        assert 0 <= n.x and n.x + n.w <= g.width and 0 <= n.y and n.y + n.h <= g.height
        assert n.h == len(n.lines) + 2 and all(len(line) <= n.w - 4 for line in n.lines)
    for a, b, route in g.arrows:
        (x0, y0), (x1, y1) = route[0], route[-1]
        src, dst = at[a], at[b]
        assert y0 == src.y + src.h and src.x < x0 < src.x + src.w, (a, b, route)
        assert y1 == dst.y and dst.x < x1 < dst.x + dst.w, (a, b, route)
        for (xa, ya), (xb, yb) in itertools.pairwise(route):
            assert (xa == xb and yb > ya) or (ya == yb and xa != xb), (a, b, route)


def test_boxes_hold_small_values_like_the_lab():
    g = graph("mlp-2layer-backprop")
    box = {n.id: n.lines for n in g.nodes}
    assert box["z1"] == ("z1", "affine · 2", "[0.45, 0.2]")
    assert box["W1"] == ("W1", "param · 2×2", "[0.1, 0.3]", "[-0.2, 0.4]")
    assert g.caption == "The numbers in the boxes are the values of the forward pass."
    assert all(len(lines) == 2 for lines in (n.lines for n in graph("vgg16-params").nodes))  # shapes only


# ------------------------------------------------------------------------------ TikZ


def test_tikz_has_a_node_per_box_and_an_arrow_per_edge():
    g = graph("transformer-block")
    tex = export(session("transformer-block"), "tex")
    pic = tex[tex.index(r"\begin{tikzpicture}"):tex.index(r"\end{tikzpicture}")]
    nodes = re.findall(r"^\\node\[(nnvar|nnop), [^]]*\] \(n\d+\) at \(([\d.]+),([\d.]+)\) \{(.*)\};$", pic, re.MULTILINE)
    assert len(nodes) == len(g.nodes)
    for (style, x, y, text), n in zip(nodes, g.nodes):
        assert style == ("nnvar" if n.variable else "nnop")
        assert (float(x), float(y)) == (n.x + n.w / 2, n.y + n.h / 2)
        assert text.split("\\\\{}") == [tikz.tt_text(line) for line in n.lines]
    assert len(re.findall(r"^\\draw\[nnarrow\] ", pic, re.MULTILINE)) == len(g.arrows)
    assert r"A.weights\\{}softmax · 3×3" in pic and r"attention\char95{}scores" in pic  # _ escaped


@pytest.mark.parametrize("stem", ["mlp-2layer-backprop", "transformer-block", "lstm-cell", LARGEST])
def test_tikz_picture_fits_the_page(stem):
    g = graph(stem)
    s = tikz.scale(g)
    assert 0 < s <= 1 and tikz.fits(g)
    assert g.width * tikz.COLUMN_PT * s <= tikz.TEXT_WIDTH_PT + 1e-6
    assert g.height * tikz.ROW_PT * s <= tikz.MAX_HEIGHT_PT + 1e-6
    assert f"\\scalebox{{{s:.4f}}}" in export(session(stem), "tex")


def test_every_tex_special_in_a_label_is_escaped():
    label = "a_b^c#d%e&f{g}h\\i~j$k"
    escaped = tikz.tt_text(label)
    assert not set(re.sub(r"\\char\d+\{\}", "", escaped)) & set("\\{}_^~#%&$")
    assert escaped.count(r"\char") == 10


def _special_graph() -> Graph:
    nodes = (GraphNode("x_1", True, ("x_1", "value · 2"), 0, 0, 24, 4),
             GraphNode("a_b^c#d%e&f", False, ("a_b^c#d%e&f", "{op}\\~$ · scalar", "[0.5, -1]"), 0, 6, 24, 5))
    return Graph("x_1 -> a_b^c#d%e&f", 24, 11, nodes, (("x_1", "a_b^c#d%e&f", ((12.5, 4.0), (12.5, 6.0))),))


# ------------------------------------------------------------------ compiling the LaTeX

PDFLATEX, PDFTOTEXT = shutil.which("pdflatex"), shutil.which("pdftotext")
TIKZ = bool(shutil.which("kpsewhich")) and subprocess.run(["kpsewhich", "tikz.sty"], capture_output=True,
                                                           text=True, check=False).stdout.strip() != ""
needs_pdf = pytest.mark.skipif(PDFLATEX is None or PDFTOTEXT is None,
                               reason="pdflatex or pdftotext is not installed (.ci/run installs texlive and poppler-utils)")
needs_tikz = pytest.mark.skipif(not TIKZ, reason="TikZ is not installed (Debian: texlive-pictures); "
                                                 "the handouts show the text drawing instead")


def compile_pages(tex: str, folder: Path) -> list[str]:
    """``pdflatex`` the document; the text of each page of the PDF (``pdftotext``)."""
    (folder / "solution.tex").write_text(tex, encoding="utf-8")
    done = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "solution.tex"], cwd=folder,
                          capture_output=True, text=True, timeout=120, check=False)
    log = (folder / "solution.log").read_text(encoding="latin-1") if (folder / "solution.log").exists() else ""
    assert done.returncode == 0, "\n".join(line for line in log.splitlines() if line.startswith("!"))[:2000]
    text = subprocess.run([PDFTOTEXT, "-enc", "UTF-8", "solution.pdf", "-"], cwd=folder, capture_output=True,
                          text=True, check=True, timeout=60).stdout
    return text.split("\f")


def _squeeze(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.\[\]-]", "", text)


def _picture_pages(pages: list[str]) -> str:
    """The page with the graph's heading and the next (a picture too tall for the rest of a page moves on)."""
    k = next(i for i, p in enumerate(pages) if "The computational graph" in p)
    return "".join(pages[k:k + 2])


@needs_pdf
@needs_tikz
@pytest.mark.parametrize("stem", ["mlp-2layer-backprop", "transformer-block", "lstm-cell", LARGEST])
def test_tikz_graph_compiles_and_the_pdf_shows_every_box(stem, tmp_path):
    tex = export(session(stem), "tex", Options(answers=True))
    assert r"\begin{tikzpicture}" in tex
    shown = _squeeze(_picture_pages(compile_pages(tex, tmp_path)))
    for n in graph(stem).nodes:  # "op · shape" is written nowhere else: each box is in the picture
        assert _squeeze("".join(n.lines[:2])) in shown, f"{stem}: box {n.id} not in the PDF's picture"
    assert "+---" not in shown  # the picture, not the text drawing


@needs_pdf
@needs_tikz
def test_tikz_labels_with_tex_specials_compile_and_print_as_themselves(tmp_path):
    doc = Document("specials", (Heading(2, "The computational graph"), _special_graph()))
    pages = compile_pages(render_tex(doc), tmp_path)
    text = "".join(pages)
    for line in ("x_1", "a_b^c#d%e&f", "{op}\\~$"):
        assert line in text, f"{line!r} not printed as itself: {text!r}"


@needs_pdf
def test_without_tikz_the_handout_shows_the_text_drawing(tmp_path):
    """A basic TeX installation (no texlive-pictures): the same .tex compiles, the graph as text."""
    tex = export(session("mlp-2layer-backprop"), "tex")
    assert r"\IfFileExists{tikz.sty}" in tex
    shown = _picture_pages(compile_pages(tex.replace(r"\IfFileExists{tikz.sty}", r"\IfFileExists{no-such-nnlab.sty}"),
                                         tmp_path))
    assert "+---" in shown and "z1affine2" in _squeeze(shown)


@needs_pdf
@needs_tikz
def test_tikz_graph_page_renders(tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm is not installed (.ci/run installs poppler-utils)")
    pages = compile_pages(export(session("transformer-block"), "tex"), tmp_path)
    k = next(i for i, p in enumerate(pages) if "The computational graph" in p) + 1
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", str(k), "-l", str(k), "-singlefile", "solution.pdf",
                    "graph"], cwd=tmp_path, check=True, timeout=60)
    png = (tmp_path / "graph.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "export-tex-graph.png").write_bytes(png)


# --------------------------------------------------------------------- SVG training plots

needs_mpl = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                               reason="matplotlib is not installed (pip install -e '.[test]')")


@functools.cache
def html(stem: str) -> str:
    return export(session(stem), "html", Options(answers=True))


def svg_group(page: str, group_id: str) -> str:
    """The SVG ``<g id=…>`` element with that id (to its balanced end)."""
    start = page.index(f'<g id="{group_id}"')
    depth, k = 0, start
    for m in re.finditer(r"<(/?)g\b[^>]*?(/?)>", page[start:]):
        if m.group(2):
            continue
        depth += -1 if m.group(1) else 1
        if depth == 0:
            k = start + m.end()
            break
    return page[start:k]


def line_points(group: str) -> np.ndarray:
    """The points of the group's line path (``M x y L x y …``) as an (n, 2) array."""
    d = re.search(r'<path d="(M [^"]*)"', group).group(1)
    return np.array([[float(v) for v in pair] for pair in re.findall(r"[ML] ([-\d.e]+) ([-\d.e]+)", d)])


def marker_count(group: str) -> int:
    return len(re.findall(r"<use ", group))


def affine(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Slope and largest residual of ``b`` fitted as ``slope · a + c``."""
    A = np.stack([a, np.ones_like(a)], axis=1)
    coef, *_ = np.linalg.lstsq(A, b, rcond=None)
    return float(coef[0]), float(np.max(np.abs(A @ coef - b))) if len(a) else 0.0


@needs_mpl
@pytest.mark.parametrize("stem", TRAINING)
def test_loss_plot_is_svg_with_the_traces_losses(stem):
    page = html(stem)
    plot = plots.make(session(stem), "loss")
    rows = plots.epoch_table(session(stem).training)
    per_epoch = next(s for s in plot.series if s.style == "line")
    pts = line_points(svg_group(page, gid("loss", per_epoch.label)))
    assert len(pts) == len(rows)  # every epoch's point, none simplified away
    epochs, losses = np.array([e for e, _ in rows], float), np.array([v for _, v in rows], float)
    if len(rows) > 1:
        sx, rx = affine(epochs, pts[:, 0])
        sy, ry = affine(losses, pts[:, 1])
        assert sx > 0 and rx < 0.01, "x is not the epoch"
        assert (sy < 0 and ry < 0.01) or np.ptp(losses) == 0, "y is not the loss (SVG y grows downward)"
    updates = [s for s in plot.series if s.style == "scatter"]
    for s in updates:  # minibatches: every update's loss as a point
        assert marker_count(svg_group(page, gid("loss", s.label))) == len(session(stem).training.records)
    reason = plots.stop_reason(session(stem).training)
    assert re.search(rf"<text[^>]*>stopped: {re.escape(reason)}</text>", page), "the stop reason is not in the picture"


@needs_mpl
def test_loss_line_y_range_is_the_losses_range():
    """The XOR run's 2000 epochs: the line spans exactly the axis positions of the first and smallest loss."""
    page = html("train-mlp-xor-gd")
    pts = line_points(svg_group(page, gid("loss", "loss per epoch")))
    losses = np.array([v for _, v in plots.epoch_table(session("train-mlp-xor-gd").training)])
    top, bottom = pts[:, 1].min(), pts[:, 1].max()
    assert pts[np.argmax(losses), 1] == top and pts[np.argmin(losses), 1] == bottom


@needs_mpl
@pytest.mark.parametrize("stem", ["train-perceptron-and", "train-perceptron-xor"])
def test_perceptron_boundary_is_svg_with_every_point(stem):
    page = html(stem)
    plot = plots.make(session(stem), "boundary")
    for s in plot.series[1:]:
        assert marker_count(svg_group(page, gid("boundary", s.label))) == len(s.xs), s.label
    assert "decision regions after update" in page
    wrong = plot.notes[0]
    assert f">{wrong}</text>" in page


@needs_mpl
@pytest.mark.parametrize("stem", TRAINING)
def test_svg_is_inline_and_loads_nothing(stem):
    page = html(stem)
    assert page.count("<svg") == 1 + len([k for k in plots.kinds(session(stem)) if k in ("loss", "boundary")])  # + the graph
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page and "<metadata" not in page
    assert "http://" not in page.replace("http://www.w3.org/1998/Math/MathML", "") and "https://" not in page
    assert "@font-face" not in page and "<image" not in page and 'href="data:' not in page
    assert re.search(r"<text[^>]*>loss per epoch</text>|<text[^>]*>mistakes per epoch</text>", page)  # text stays text
    assert "nnlab[export]" not in page


@needs_mpl
def test_the_svg_is_the_same_each_time():
    page = html("train-perceptron-and")
    again = export(session("train-perceptron-and"), "html", Options(answers=True))
    assert page == again


def test_without_matplotlib_the_text_plots_and_one_note(monkeypatch):
    for name in [m for m in list(sys.modules) if m == "matplotlib" or m.startswith("matplotlib.")] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)  # import matplotlib… raises ImportError
    page = export(session("train-perceptron-and"), "html")
    assert "<svg" not in page
    assert page.count("pip install 'nnlab[export]'") == 1
    plots_at = page.index("<h2>Plots</h2>")
    graph_at = page.index("<h2>The computational graph</h2>")
    assert graph_at < page.index("pip install") < page.index("<pre>", graph_at) < plots_at  # before the first text picture
    assert "stopped: converged at epoch 6 (no mistake)" in page
    assert len(re.findall(r"<pre>[^<]*(mistakes per epoch|decision regions)", page)) == 2


def test_check_md_and_tex_never_import_matplotlib(tmp_path):
    loaded = modules_loaded_by(
        "import contextlib, io\n"
        "from nnlab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "    main(['check', 'train-perceptron-and'])\n"
        f"    main(['export', 'train-perceptron-and', '--to', 'md', '--out', {str(tmp_path / 'a.md')!r}])\n"
        f"    main(['export', 'train-perceptron-and', '--to', 'tex', '--out', {str(tmp_path / 'a.tex')!r}])\n")
    assert "nnlab.export" in loaded and not imports_package(loaded, "matplotlib")  # HTML draws its graph with it
    assert (tmp_path / "a.tex").exists()


# ------------------------------------------------------------------- in a real browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it as root)")
@needs_mpl
def test_svg_plots_and_math_render_in_chromium(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    path = tmp_path / "train.html"
    path.write_text(html("train-perceptron-and"), encoding="utf-8")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 1300})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri())
            assert page.locator("math").count() > 20
            figures = page.locator("figure.plot svg")
            assert figures.count() == 2
            for k in range(2):
                box = figures.nth(k).bounding_box()
                assert box is not None and box["width"] > 300 and box["height"] > 150
            shown = page.inner_text("body")
            assert "\\frac" not in shown and "\\begin" not in shown
            assert [u for u in requests if not u.startswith("file:")] == []
            ARTIFACTS.mkdir(exist_ok=True)
            figures.nth(0).screenshot(path=str(ARTIFACTS / "export-html-loss.png"))
        finally:
            browser.close()
