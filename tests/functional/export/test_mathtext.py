"""The engine's Unicode math spelled as LaTeX: symbols rewritten, numbers untouched."""

from __future__ import annotations

import pytest

from nnlab.export.mathtext import escape_text, to_latex


@pytest.mark.parametrize(("unicode", "latex"), [
    ("Y[0,0] = 0×0 + 1×1 + 3×2 + 4×3 = 19", r"Y[0,0] = 0\times 0 + 1\times 1 + 3\times 2 + 4\times 3 = 19"),
    ("Y0[i,j] = Σₐ,ᵦ X[i+a, j+b]·K[a,b]", r"\mathrm{Y0}[i,j] = \sum_{a,b} X[i+a, j+b]\cdot K[a,b]"),
    ("∂loss/∂W1[0,0] = (-0.0494)·0.5 = -0.0247",
     r"\partial\mathrm{loss}/\partial\mathrm{W1}[0,0] = (-0.0494)\cdot 0.5 = -0.0247"),
    ("ŷ − y", r"\hat{y} - y"),
    ("e^(-0.3) / (e^1.5 + e^−|z|)", r"e^{(-0.3)} / (e^{1.5} + e^{-|z|})"),
    ("OH = ⌊(3 + 2·1 − 2)/1⌋ + 1 = 4", r"\mathrm{OH} = \lfloor(3 + 2\cdot 1 - 2)/1\rfloor + 1 = 4"),
    ("h_prev ← h_prev − η·g", r"\mathrm{h\_prev} \leftarrow \mathrm{h\_prev} - \eta\cdot g"),
    ("a = σ(z)  (summed over 3 examples)", r"a = \sigma(z)\quad (\mathrm{summed}\ \mathrm{over}\ 3\ \mathrm{examples})"),
    ("Wᵀ x² 1.5e-10 50% {x}", r"W^{\top} x^{2} 1.5e-10\ 50\% \{x\}"),
])
def test_to_latex(unicode, latex):
    assert to_latex(unicode) == latex


def test_every_number_survives_as_written():
    line = "z = 0.1×0.5 + (-0.2)×1e-07 + 123456.789 = 0.05"
    out = to_latex(line)
    for number in ("0.1", "0.5", "(-0.2)", "1e-07", "123456.789", "0.05"):
        assert number in out


def test_escape_text():
    assert escape_text("50% of a_b & {c} #1 $ ~ ^ \\") == (
        r"50\% of a\_b \& \{c\} \#1 \$ \textasciitilde{} \textasciicircum{} \textbackslash{}")
