"""Answers as students write them: −, σ, ×, ·, e^x, ln, shapes 5x7 / 5×7 / (5, 7)."""

from __future__ import annotations

import textwrap

import pytest

from nnlab.errors import NnlabError
from nnlab.scenario import loads
from nnlab.scenario.expr import parse_answer, to_text
from nnlab.scenario.model import answer_from_text
from tests.functional.diagnosis.util import check

BASE = """
nnlab: 1
title: notation
values: {z: 2.0, y: 1, X: {shape: [9, 13], init: range}, K: {shape: [3, 3], init: ones}}
compute:
  - yhat = sigmoid(z)
  - d = yhat - y
  - Y = conv2d(X, K, stride=2, padding_total=2)
expect:
"""


@pytest.mark.parametrize("ref, answer", [
    ("d", "−0.1192"),
    ("d", "'σ(2) − 1'"),
    ("d", "σ(2) − 1"),
    ("yhat * 2", "'2 × σ(2)'"),
    ("yhat * 2", "2·σ(2)"),
    ("2 * d", "−0.2384"),
    ("exp(z)", "e^2"),
    ("exp(z)", "exp(2)"),
    ("log(yhat)", "ln(σ(2))"),
    ("shape(Y)", "5x7"),
    ("shape(Y)", "5×7"),
    ("shape(Y)", "(5, 7)"),
    ("shape(Y)", "[5, 7]"),
    ("d", "[−0.1192]"),
])
def test_notation_is_read(ref, answer):
    key = ref if ref.isidentifier() else f"'{ref}'"
    item = check(BASE + f"  {key}: {answer}\n").items[0]
    assert item.ok, (item.expected, item.actual, item.error)


def test_a_unicode_minus_keeps_the_written_tolerance():
    value, raw, tol = answer_from_text("−0.12", "d")
    assert value == -0.12 and raw == "-0.12" and tol == pytest.approx(0.005)


def test_times_is_a_product_unless_the_answer_is_a_shape():
    assert to_text(parse_answer("5×7")) == "5 * 7"
    assert to_text(parse_answer("5×7", shape=True)) == "[5, 7]"


def test_an_unreadable_answer_is_an_error_at_its_line_and_column():
    text = textwrap.dedent(BASE) + "  d: 'σ(2) −− @ 1'\n"
    with pytest.raises(NnlabError) as err:
        loads(text, "s.yaml")
    e = err.value
    assert "cannot read the answer" in e.message
    assert e.loc.line == text.count("\n") and e.loc.col > len("  d: '")
    assert e.hint and "σ(2) − 1" in e.hint


def test_the_equation_language_is_unchanged():
    """Student notation is for answers only: a compute line with × is still an error."""
    with pytest.raises(NnlabError) as err:
        loads("nnlab: 1\ntitle: t\nvalues: {x: 1}\ncompute:\n  - y = 2 × x\n", "s.yaml")
    assert err.value.loc.line == 5
