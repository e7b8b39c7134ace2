"""``nnlab export``: every bundled scenario in Markdown, LaTeX and HTML.

The Markdown is read back: every tensor it shows (each step's result, each backward
step's upstream gradient and contributions, each update's new parameters) and every
element line's result are parsed out of the text and compared with the run. The
LaTeX is compiled with ``pdflatex`` (and page 1 rendered with ``pdftoppm``) when they
are installed — ``.ci/run`` installs them.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nnlab.engine.explain import element_spaces
from nnlab.engine.run import to_float
from nnlab.engine.trace import BACKWARD, FORWARD
from nnlab.export import export
from nnlab.export.document import Options
from nnlab.export.mathtext import to_latex
from nnlab.library import bundled
from nnlab.session import open_session
from tests.helpers import run_cli

SCENARIOS = sorted(bundled(), key=lambda p: p.stem)
IDS = [p.stem for p in SCENARIOS]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
NUMBER = r"[-+]?(?:\d+(?:\.\d+)?(?:e[-+]?\d+)?|inf|nan)"


@functools.cache
def session(stem: str):
    return open_session(str(next(p for p in SCENARIOS if p.stem == stem)))


@functools.cache
def exported(stem: str, fmt: str) -> str:
    return export(session(stem), fmt, Options(answers=True))


# ---------------------------------------------------------------- reading back


def sections(md: str) -> dict[int, str]:
    """Step number -> the Markdown of that step's section."""
    parts = re.split(r"^### Step (\d+) · \w+$", md, flags=re.MULTILINE)
    return {int(parts[k]): parts[k + 1].split("\n## ")[0].split("\n### ")[0] for k in range(1, len(parts), 2)}


def shown_matrices(section: str) -> list[np.ndarray]:
    """Every tensor a section shows as ``$$name = \\begin{bmatrix}…\\end{bmatrix}$$`` (or a scalar), in order."""
    out = []
    for line in section.splitlines():
        m = re.fullmatch(r"\$\$.* = \\begin\{bmatrix\} (.*) \\end\{bmatrix\}\$\$", line)
        if m:
            rows = [[c.strip() for c in row.split("&")] for row in m.group(1).split(r" \\ ")]
            out.append(np.array([[_cell(c) for c in row] for row in rows], dtype=float))
    return out


def _cell(text: str) -> float:
    return np.nan if text in (r"\cdots", r"\vdots") else float(text.replace(r"\mathrm{", "").rstrip("}"))


def expected_matrices(array: np.ndarray) -> list[np.ndarray]:
    """The 2-D pieces of a tensor as an export shows them (rank 3+: one per leading index, at most 8)."""
    a = np.asarray(array, dtype=float)
    if a.ndim <= 2:
        return [a.reshape(1, -1) if a.ndim < 2 else a]
    return [m for i in range(min(a.shape[0], 8)) for m in expected_matrices(a[i])]


def same(shown: np.ndarray, actual: np.ndarray, digits: int = 4) -> bool:
    """Whether a shown matrix (elided with NaN beyond 8 rows/columns) is the actual one to ``digits`` places."""
    rows, cols = min(actual.shape[0], 8), min(actual.shape[1], 8)
    elided = (rows + (actual.shape[0] > 8), cols + (actual.shape[1] > 8))  # a row of ⋮, a column of ⋯
    if shown.shape != elided:
        return False
    s, a = shown[:rows, :cols], actual[:rows, :cols]
    tol = np.maximum(0.5 * 10.0 ** -digits, 5e-4 * np.abs(a)) * 1.001
    return bool(np.all((np.abs(s - a) <= tol) | (np.isnan(s) & np.isnan(a)) | (np.isinf(a) & (s == a))))


def step_arrays(s, step) -> list[np.ndarray]:
    """What a step's section must show, from the run: forward its value, backward the upstream
    gradient then each input's contribution, an update the parameter after it."""
    run, inner = s.run_for(step), s.inner_step(step)

    def per_example(a, nid):
        node = run.graph.nodes[nid]
        return to_float(a if (node.batched and run.batch_axis) else a[0])

    if step.phase == FORWARD:
        arrays = [per_example(run.values[step.node], step.node)]
    elif step.phase == BACKWARD:
        arrays = [per_example(run.grads[step.node], step.node)]
        for slot, _ in element_spaces(run, inner):
            c = run.contributions[(step.node, slot)]
            arrays.append(to_float(c if run.values[step.inputs[slot]].shape[0] > 1 and run.batch_axis else c[0]))
    else:
        arrays = [to_float(s.training.snapshots[step.update][step.node][0])]
    return [m for a in arrays for m in expected_matrices(a)]


@pytest.mark.parametrize("stem", IDS)
def test_markdown_numbers_are_the_runs(stem):
    s = session(stem)
    found = sections(exported(stem, "md"))
    assert found, "no step written out"
    if getattr(s.scenario, "shape_only", False):  # shapes alone (VGG-16's count): each step says its shape
        for number, text in found.items():
            assert f"shape {' × '.join(map(str, s.steps[number - 1].shape))}" in text, number
        return
    for number, text in found.items():
        step = s.steps[number - 1]
        shown = shown_matrices(text)
        expected = step_arrays(s, step)
        scalars = [a for a in expected if a.size == 1]
        matrices = [a for a in expected if a.size > 1]
        assert len(shown) == len(matrices), f"step {number}: {len(shown)} matrices shown, {len(matrices)} in the run"
        for k, (m, a) in enumerate(zip(shown, matrices)):
            assert same(m, a), f"step {number} ({step.label}), tensor {k}: shown {m} but the run has {a}"
        for a in scalars:  # a scalar result is the last number of its own line: `$$name = 0.3404$$`
            values = [float(v) for v in re.findall(rf"^\$\$[^$]* = ({NUMBER})\$\$$", text, flags=re.MULTILINE)]
            assert any(same(np.array([[v]]), a) for v in values), f"step {number}: {a} not shown in {values}"


@pytest.mark.parametrize("stem", IDS)
def test_markdown_element_results_are_the_runs(stem):
    """Each written-out forward element ``$$z1[1] = … = 0.2$$`` ends in the run's value of that element."""
    s = session(stem)
    checked = 0
    for number, text in sections(exported(stem, "md")).items():
        step = s.steps[number - 1]
        if step.phase != FORWARD:
            continue
        run = s.run_for(step)
        name = re.escape(to_latex(run.graph.display(step.node)))
        value = to_float(run.values[step.node])
        example = value[0]
        for index, result in re.findall(rf"^\$\${name}\[([\d,]+)\] = .* = ({NUMBER})\$\$$", text, flags=re.MULTILINE):
            idx = tuple(int(i) for i in index.split(","))
            assert same(np.array([[float(result)]]), np.array([[example[idx]]])), (number, index, result)
            checked += 1
    steps = [st for st in list(s.steps)[:400] if st.phase == FORWARD and st.shape]
    assert checked or not steps or getattr(s.scenario, "shape_only", False), "no element line was found to check"


def test_round_trip_sees_a_wrong_number():
    """The reader is not vacuous: one changed digit in a result matrix is caught."""
    md = exported("conv-lecture", "md")
    assert r"\begin{bmatrix} 19 & 25 \\ 37 & 43 \end{bmatrix}" in md
    wrong = md.replace(r"\begin{bmatrix} 19 & 25 \\ 37 & 43 \end{bmatrix}", r"\begin{bmatrix} 19 & 25 \\ 37 & 44 \end{bmatrix}")
    s = session("conv-lecture")
    number, text = next((n, t) for n, t in sections(wrong).items() if s.steps[n - 1].phase == FORWARD)
    assert not same(shown_matrices(text)[0], step_arrays(s, s.steps[number - 1])[0])


# ------------------------------------------------------------------- what it says


def test_conv_lecture_worked_solution():
    md = exported("conv-lecture", "md")
    assert md.startswith("# 2-D convolution from the lecture")
    assert r"$$Y[0,0] = 0\times 0 + 1\times 1 + 3\times 2 + 4\times 3 = 19$$" in md
    assert r"$$X = \begin{bmatrix} 0 & 1 & 2 \\ 3 & 4 & 5 \\ 6 & 7 & 8 \end{bmatrix}$$" in md
    assert "no kernel flip" in md and "arithmetic: float64" in md
    assert "arithmetic: exact" in exported("regression-mse", "md")


def test_backward_step_is_upstream_times_local():
    md = exported("mlp-2layer-backprop", "md")
    # ∂loss/∂z2 = upstream ∂loss/∂yhat × local σ'(z2), with the local derivative's formula
    assert (r"\partial\mathrm{yhat}/\partial\mathrm{z2} = \sigma(\mathrm{z2})(1 - \sigma(\mathrm{z2}))"
            in md)
    assert r"$$\partial\mathrm{loss}/\partial\mathrm{z2} = (-1.7115)\cdot 0.2429 = -0.4157$$" in md
    # the chain for the expect reference grad(W1)[0,0], from sympy
    assert "the chain rule, factor by factor" in md


def test_padding_and_step_zero_conventions_are_stated():
    assert "padding 1 per side" in exported("conv-padding", "md")
    md = exported("train-perceptron-and", "md")
    assert "step(0) = " in md and "perceptron η=" in md
    assert "## Training" in md and "stopped: converged" in md


def test_long_training_shows_first_and_last_updates():
    s = session("train-mlp-xor-gd")
    n = len(s.training.records)
    assert n > 12
    md = exported("train-mlp-xor-gd", "md")
    assert f"The updates (the first 6 and the last 3 of {n})" in md
    assert f"### Update {n} · " in md and "### Update 7 · " not in md
    assert "| epoch | mean loss |" in md


def test_answers_table_with_diagnosis(tmp_path):
    src = Path(next(p for p in SCENARIOS if p.stem == "conv-padding")).read_text(encoding="utf-8")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(src.replace("Y0: [[19, 25], [37, 43]]", "Y0: [[19, 25], [37, 42]]"), encoding="utf-8")
    result = run_cli("export", str(wrong), "--to", "md", "--answers")
    assert result.returncode == 0, result.stderr
    assert "| Y0 | [[19, 25], [37, 42]] |" in result.stdout
    assert "✗ |" in result.stdout and "answers differ; the first mistake" in result.stdout


def test_refs_and_phase_options():
    result = run_cli("export", "mlp-2layer-backprop", "--to", "md", "--phase", "forward", "--refs", "grad(w2)[1]")
    assert result.returncode == 0, result.stderr
    assert "## Backward pass" not in result.stdout and "## Forward pass" in result.stdout
    assert "### grad(w2)[1]" in result.stdout and "### grad(W1)[0,0]" not in result.stdout
    bad = run_cli("export", "mlp-2layer-backprop", "--to", "md", "--refs", "grad(nope)[0]")
    assert bad.returncode == 2 and "unknown name 'nope'" in bad.stderr


def test_out_writes_a_file_and_says_where(tmp_path):
    out = tmp_path / "conv.html"
    result = run_cli("export", "conv-lecture", "--to", "html", "--out", str(out))
    assert result.returncode == 0 and f"wrote {out}" in result.stderr
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["conv.html"]  # no temporary file left behind


# ------------------------------------------------------------------ html and tex


@pytest.mark.parametrize("stem", IDS)
def test_html_is_self_contained_mathml(stem):
    html = exported(stem, "html")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert html.count("<math") >= 3
    assert not re.search(r"<(script|link|img|iframe)\b", html), "the page must load nothing"
    assert "http://" not in html.replace("http://www.w3.org/1998/Math/MathML", "") and "https://" not in html
    text = re.sub(r"<math.*?</math>", "", html, flags=re.DOTALL)
    assert "\\frac" not in text and "\\mathrm" not in text and "\\begin{" not in text


@pytest.mark.parametrize("stem", IDS)
def test_tex_is_a_complete_document(stem):
    tex = exported(stem, "tex")
    assert tex.startswith(r"\documentclass") and tex.rstrip().endswith(r"\end{document}")
    used = set(re.findall(r"\\usepackage(?:\[[^]]*\])?\{([^}]*)\}", tex))
    assert used <= {"inputenc", "amsmath,amssymb", "geometry", "longtable", "tikz"}  # tikz: only where installed
    body = tex.split(r"\begin{document}")[1]
    undeclared = {c for c in body if ord(c) > 0xFF and not 0x100 <= ord(c) < 0x180} - {
        chr(int(h, 16)) for h in re.findall(r"\\DeclareUnicodeCharacter\{([0-9A-F]+)\}", tex)}
    assert not undeclared, f"pdflatex cannot typeset {sorted(undeclared)}"


PDFLATEX = shutil.which("pdflatex")


def compile_tex(stem: str, where) -> None:
    """Export ``stem`` to ``where/solution.tex`` and compile it to ``solution.pdf`` (raises on failure)."""
    (where / "solution.tex").write_text(exported(stem, "tex"), encoding="utf-8")
    subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "solution.tex"], cwd=where,
                   capture_output=True, check=True, timeout=120)


@pytest.mark.skipif(PDFLATEX is None, reason="pdflatex is not installed (.ci/run installs texlive-latex-base)")
@pytest.mark.parametrize("stem", IDS)
def test_tex_compiles(stem, tmp_path):
    (tmp_path / "solution.tex").write_text(exported(stem, "tex"), encoding="utf-8")
    done = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "solution.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    log = (tmp_path / "solution.log").read_text(encoding="latin-1") if (tmp_path / "solution.log").exists() else ""
    assert done.returncode == 0, "\n".join(line for line in log.splitlines() if line.startswith("!"))[:2000]
    assert (tmp_path / "solution.pdf").stat().st_size > 1000


@pytest.mark.skipif(PDFLATEX is None or shutil.which("pdftoppm") is None,
                    reason="pdflatex or pdftoppm is not installed (.ci/run installs texlive and poppler-utils)")
def test_tex_page_one_renders(tmp_path):
    compile_tex("mlp-2layer-backprop", tmp_path)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", "solution.pdf", "page1"],
                   cwd=tmp_path, check=True, timeout=60)
    png = (tmp_path / "page1.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "export-tex-page1.png").write_bytes(png)


@pytest.mark.skipif(PDFLATEX is None or shutil.which("pdftotext") is None,
                    reason="pdflatex or pdftotext is not installed (.ci/run installs texlive and poppler-utils)")
def test_a_command_copied_out_of_the_pdf_keeps_its_straight_quotes(tmp_path):
    """TeX turns ' into ’ even in \\texttt; a student pasting `nnlab explain … 'grad(W1)[0,0]'` needs '."""
    compile_tex("mlp-2layer-backprop", tmp_path)
    text = subprocess.run(["pdftotext", "solution.pdf", "-"], cwd=tmp_path, capture_output=True, text=True,
                          check=True, timeout=60).stdout
    assert "nnlab explain mlp-2layer-backprop.yaml 'grad(W1)[0,0]'" in text
    assert "’grad" not in text
