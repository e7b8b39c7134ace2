"""The lecture's hand-derived chains, reproduced symbol for symbol.

"Calculate Gradient (on one data point)": for one sigmoid neuron with BCE,
∂ℓ/∂w₁₁ = (ŷ − y)·x₁; made deeper, ∂ℓ/∂a₁₁ = (ŷ − y)·w₁₁⁽²⁾ and
∂ℓ/∂w₁₁⁽¹⁾ = (ŷ − y)·w₁₁⁽²⁾·a₁₁(1 − a₁₁)·x₁; and the quiz, ∂ℓ/∂z = σ(2) − 1.
Names follow the scenarios: W1[0,0] is w₁₁⁽¹⁾, W2[0,0] (or w2[0]) is w₁₁⁽²⁾,
a1[0] is a₁₁, x[0] is x₁.
"""

from __future__ import annotations

import sympy as sp

from nnlab.library import find
from nnlab.symbolic.chain import NOTE_SIGMOID_BCE, chain_for, format_chain
from nnlab.symbolic.expand import elem_symbol as S
from nnlab.symbolic.functions import sigmoid
from tests.unit.symbolic.conftest import fixture_run


def _factors(chain):
    assert chain.n_paths == 1 and len(chain.paths) == 1
    return [f.expr for f in chain.paths[0].factors]


def test_deep_chain_for_w11_is_the_lectures_symbol_for_symbol():
    run = fixture_run("lecture-2layer")
    chain = chain_for(run, "grad(W1)[0, 0]")
    yhat, y, w, a, x = S("yhat", (0,)), S("y"), S("W2", (0, 0)), S("a1", (0,)), S("x", (0,))
    assert _factors(chain) == [yhat - y, w, a * (1 - a), x]
    assert chain.paths[0].unicode == "(ŷ[0] − y) · W2[0,0] · a1[0]·(1 − a1[0]) · x[0]"
    assert sp.simplify(chain.paths[0].product - (yhat - y) * w * a * (1 - a) * x) == 0
    assert [f.label for f in chain.paths[0].factors] == [
        "∂loss/∂z2[0]", "∂z2[0]/∂a1[0]", "∂a1[0]/∂z1[0]", "∂z1[0]/∂W1[0,0]"]
    assert chain.agree and abs(chain.total - float(run.grad("W1")[0, 0])) < 1e-15


def test_sigmoid_bce_collapse_keeps_the_unsimplified_factors_on_record():
    chain = chain_for(fixture_run("lecture-2layer"), "grad(W1)[0, 0]")
    first = chain.paths[0].factors[0]
    assert first.note == NOTE_SIGMOID_BCE and NOTE_SIGMOID_BCE in chain.notes
    assert first.merged == ("∂loss/∂yhat[0]", "∂yhat[0]/∂z2[0]")


def test_bundled_backprop_scenario_gives_the_same_chain():
    from nnlab.session import open_session

    run = open_session(str(find("mlp-2layer-backprop"))).run
    chain = chain_for(run, "grad(W1)[0,0]")
    yhat, y, w, a, x = S("yhat"), S("y"), S("w2", (0,)), S("a1", (0,)), S("x", (0,))
    assert _factors(chain) == [yhat - y, w, a * (1 - a), x]
    assert chain.paths[0].unicode == "(ŷ − y) · w2[0] · a1[0]·(1 − a1[0]) · x[0]"
    text = format_chain(chain)
    assert text.splitlines()[0] == ("∂loss/∂W1[0,0] = ∂loss/∂yhat · ∂yhat/∂z2 · ∂z2/∂a1[0] · "
                                    "∂a1[0]/∂z1[0] · ∂z1[0]/∂W1[0,0]")
    assert "= (ŷ − y) · w2[0] · a1[0]·(1 − a1[0]) · x[0]" in text
    assert text.rstrip().endswith("✓ agrees")


def test_chain_for_a11_is_yhat_minus_y_times_w11():
    chain = chain_for(fixture_run("lecture-2layer"), "grad(a1)[0]")
    assert _factors(chain) == [S("yhat", (0,)) - S("y"), S("W2", (0, 0))]
    assert chain.agree


def test_one_neuron_chain_is_yhat_minus_y_times_x1():
    chain = chain_for(fixture_run("one-neuron"), "grad(w)[0]")
    assert _factors(chain) == [S("yhat") - S("y"), S("x", (0,))]
    assert chain.paths[0].unicode == "(ŷ − y) · x[0]"
    assert chain.agree


def test_before_the_collapse_the_bce_factor_is_the_lectures():
    chain = chain_for(fixture_run("one-neuron"), "grad(yhat)")
    (factor,) = chain.paths[0].factors
    p, y = S("yhat"), S("y")
    assert sp.simplify(factor.expr - ((1 - y) / (1 - p) - y / p)) == 0
    assert factor.unicode == "(1 − y)/(1 − ŷ) − y/ŷ"


def test_quiz_dl_dz_is_sigma_2_minus_1():
    run = fixture_run("bce-quiz")
    chain = chain_for(run, "grad(z)")
    assert _factors(chain) == [S("yhat") - S("y")]
    assert chain.exact == sigmoid(sp.Integer(2)) - 1
    assert chain.exact_unicode == "σ(2) − 1"
    assert abs(chain.total - (1 / (1 + 2.718281828459045 ** -2) - 1)) < 1e-12
    assert chain.agree and "= σ(2) − 1" in format_chain(chain)


def test_the_bundled_quiz_too():
    from nnlab.session import open_session

    chain = chain_for(open_session(str(find("bce-quiz"))).run, "grad(z)")
    assert chain.exact_unicode == "σ(2) − 1" and chain.agree
