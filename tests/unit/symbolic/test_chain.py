"""Chains: several paths and their sum, examples, references, cache, text, refusals.

Timings are in ``benchmarks/symbolic.py``, not here."""

from __future__ import annotations

import pytest

from nnlab.errors import NnlabError
from nnlab.symbolic import chain as chain_mod
from nnlab.symbolic.chain import MAX_PATHS, Chain, chain_for, format_chain
from nnlab.symbolic.expand import elem_symbol as S
from nnlab.symbolic.functions import sigmoid
from tests.unit.symbolic.conftest import fixture_run, scenario_run


def test_an_input_feeding_two_hidden_units_has_two_paths_that_add_up():
    run = fixture_run("lecture-2layer")
    chain = chain_for(run, "grad(x)[0]")
    assert chain.n_paths == 2 and len(chain.paths) == 2
    assert [p.elements[3] for p in chain.paths] == ["a1[0]", "a1[1]"]
    assert chain.total == pytest.approx(sum(p.value for p in chain.paths), rel=1e-12)
    assert chain.agree and "along 2 paths" in chain.notes[0]
    text = format_chain(chain)
    assert "path 1:" in text and "path 2:" in text and "sum = Σ =" in text


def test_a_reused_value_gives_one_path_per_use():
    run = scenario_run("nnlab: 1\ntitle: t\nvalues: {a: 1.5}\ncompute:\n  - b = a * a + a\n  - loss = b * a\n"
                       "backward: loss\n")
    chain = chain_for(run, "grad(a)")
    assert chain.n_paths == 2 and chain.agree
    assert chain.total == pytest.approx(3 * 1.5 ** 2 + 2 * 1.5)  # d/da (a³ + a²)


def test_mean_over_examples_sums_every_example_times_one_over_n():
    run = fixture_run("mlp-data")
    chain = chain_for(run, "grad(W1)[0, 1]")
    assert chain.examples == 3 and chain.scale == pytest.approx(1 / 3)
    assert {p.example for p in chain.paths} == {0, 1, 2}
    assert chain.total == pytest.approx(sum(p.value for p in chain.paths) / 3, rel=1e-12)
    assert chain.agree
    assert chain.paths[0].factors[0].note == chain_mod.NOTE_BCE_LOGITS
    assert chain.paths[0].factors[0].expr == sigmoid(S("z")) - S("y")
    assert chain.paths[0].factors[0].unicode == "σ(z) − y"


def test_a_data_element_names_its_example_first():
    run = fixture_run("mlp-data")
    chain = chain_for(run, "grad(x)[2, 1]")
    assert chain.wrt == "x[2,1]" and chain.examples == 1
    assert all(p.example == 2 for p in chain.paths)
    assert chain.agree and chain.engine == pytest.approx(float(run.grad("x")[2, 1]))


def test_cross_entropy_factor_is_p_minus_onehot():
    run = fixture_run("softmax-ce")
    chain = chain_for(run, "grad(W)[2, 0]")
    assert chain.agree and chain_mod.NOTE_SOFTMAX_CE in chain.notes
    first = chain.paths[0].factors[0]
    assert first.unicode == "(softmax(logits[0,:])[2] − 1)/2"


def test_conv_pool_chain_agrees_for_every_input_pixel():
    run = fixture_run("conv-pool")
    for i in range(4):
        for j in range(4):
            chain = chain_for(run, f"grad(X)[{i}, {j}]")
            assert chain.agree, (i, j, chain.total, chain.engine)


def test_many_paths_are_counted_and_summed_but_listed_up_to_the_cap():
    lines = "\n".join(f"  - h{k} = tanh(h{k - 1} * w + x)" for k in range(1, 8))
    run = scenario_run(f"nnlab: 1\ntitle: t\nvalues: {{w: 0.5, x: 0.3, h0: 0.1}}\ncompute:\n{lines}\n"
                       "  - loss = h7 * h7\nbackward: loss\n")
    chain = chain_for(run, "grad(w)")
    assert chain.n_paths == 7 and chain.agree
    run2 = scenario_run("nnlab: 1\ntitle: t\nvalues:\n  X: {shape: [5, 5], init: range, scale: 0.1}\n"
                        "  K: [[0.5, -0.5], [0.25, 1.0]]\ncompute:\n  - Y = conv2d(X, K)\n"
                        "  - loss = sum(Y * Y)\nbackward: loss\n")
    big = chain_for(run2, "grad(K)[0, 0]")
    assert big.n_paths > MAX_PATHS and len(big.paths) == MAX_PATHS and big.agree
    assert f"{MAX_PATHS} of {big.n_paths} paths listed" in " ".join(big.notes)


def test_an_element_the_target_does_not_depend_on():
    run = scenario_run("nnlab: 1\ntitle: t\nvalues: {a: 1.5, b: 2.0}\ncompute:\n  - c = a * 2\n  - d = b * 3\n"
                       "  - loss = c * c\nbackward: loss\n")
    chain = chain_for(run, "grad(b)")
    assert chain.n_paths == 0 and chain.total == 0 and chain.agree
    assert "= 0" in format_chain(chain)


def test_the_target_itself():
    chain = chain_for(fixture_run("one-neuron"), "grad(loss)")
    assert chain.total == 1 and chain.agree


@pytest.mark.parametrize("ref, words", [
    ("W1[0, 0]", "gradient reference"),
    ("grad(W1)", "give 2 indices"),
    ("grad(W1)[0, 5]", "out of range"),
    ("grad(W9)[0, 0]", "unknown name"),
    ("grad(W1)[0:1, 0]", "not a slice"),
])
def test_bad_references_are_user_errors(ref, words):
    with pytest.raises(NnlabError) as err:
        chain_for(fixture_run("lecture-2layer"), ref)
    assert words in err.value.message


def test_no_backward_target_is_a_user_error():
    run = scenario_run("nnlab: 1\ntitle: t\nvalues: {x: 2.0}\ncompute:\n  - y = sigmoid(x)\n")
    with pytest.raises(NnlabError, match="no backward target"):
        chain_for(run, "grad(x)")


def test_chains_are_cached_per_scenario_and_reference():
    run = fixture_run("lecture-2layer")
    a = chain_for(run, "grad(W1)[0, 0]")
    assert chain_for(run, "grad(W1)[0,0]") is a  # same element, spelled differently
    again = fixture_run("lecture-2layer")  # same file and text: same key
    assert chain_for(again, "grad(W1)[0, 0]") is a
    assert chain_for(run, "grad(W1)[0, 1]") is not a


def test_chain_is_frozen_data_with_a_json_form():
    import dataclasses
    import json

    chain = chain_for(fixture_run("lecture-2layer"), "grad(W1)[1, 0]")
    assert isinstance(chain, Chain)
    with pytest.raises(dataclasses.FrozenInstanceError):
        chain.total = 0  # type: ignore[misc]
    data = json.loads(json.dumps(chain.as_json()))
    assert data["agree"] and data["paths"][0]["factors"][0]["expr"] == "ŷ[0] − y"


def test_chain_for_one_element_of_the_bundled_2_layer_network():
    """Its time (≤ 300 ms after sympy is loaded) is measured by ``benchmarks/symbolic.py``."""
    from nnlab.library import find
    from nnlab.session import open_session

    run = open_session(str(find("mlp-2layer-backprop"))).run
    chain = chain_for(run, "grad(W1)[0, 0]")
    assert chain.agree and chain.n_paths == 1
    assert chain.total == pytest.approx(float(run.grad("W1")[0, 0]), rel=1e-12)


def test_a_chain_through_huge_tensors_is_refused():
    """Refused from the sizes alone, before any symbol is built (timed by ``benchmarks/symbolic.py``)."""
    run = scenario_run(HUGE_CONV)
    with pytest.raises(NnlabError, match="too large") as info:
        chain_for(run, "grad(K)[0, 0]")
    assert "267,618 tensor elements" in str(info.value)


HUGE_CONV = ("nnlab: 1\ntitle: t\nvalues:\n  X: {shape: [300, 300], init: normal}\n"
             "  K: {shape: [3, 3], init: normal}\ncompute:\n  - Y = conv2d(X, K)\n"
             "  - loss = sum(Y)\nbackward: loss\n")
