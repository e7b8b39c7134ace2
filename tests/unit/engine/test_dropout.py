"""``dropout(x, p, seed=0)``: the seeded 0/1 mask as a step, and inverted scaling.

Proof: the mask is NumPy's ``default_rng(seed).random(shape) ≥ p`` (the convention the docs
state), the output is PyTorch's dropout given that mask (``x * mask / (1 − p)``) with its
gradient, float64 central differences through both ops, and exact arithmetic stays exact.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from nnlab.engine.graph import build_graph
from nnlab.engine.ops.base import REGISTRY
from nnlab.engine.run import run_graph
from nnlab.errors import NnlabError
from nnlab.scenario import loads
from tests.unit.engine.gradcheck import check_op


def _run(x, call, *, data=False, extra="", arithmetic="float"):
    section = "data" if data else "values"
    text = (f"nnlab: 1\ntitle: dropout\n{section}: {{x: {json.dumps(np.asarray(x).tolist())}}}\n"
            f"options: {{arithmetic: {arithmetic}}}\ncompute:\n  - D = {call}\n  - L = sum(D * D){extra}\n"
            "backward: L\n")
    return run_graph(build_graph(loads(text, "d.yaml")))


@pytest.mark.parametrize("shape, p, seed", [((6,), 0.5, 3), ((3, 4), 0.25, 0), ((2, 2, 3), 0.8, 11)])
def test_mask_is_the_documented_draw_and_output_is_torch_dropout_with_it(shape, p, seed):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(seed).normal(size=shape)
    run = _run(x, f"dropout(x, {p}, seed={seed})")
    mask = (np.random.default_rng(seed).random((1,) + shape) >= p).astype(float)[0]
    np.testing.assert_array_equal(run.value("D.mask"), mask)
    assert 0 < mask.sum() < mask.size  # the draw does keep some and drop some
    xt = torch.tensor(x, requires_grad=True)
    out = xt * torch.tensor(mask) / (1 - p)  # PyTorch's F.dropout, given its mask
    (out * out).sum().backward()
    np.testing.assert_allclose(run.value("D"), out.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(run.grad("x"), xt.grad.numpy(), rtol=1e-12)


def test_torch_dropout_keeps_and_scales_the_same_way():
    """F.dropout's own output: zeros where it dropped, x/(1 − p) where it kept — our convention."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    x = torch.arange(1, 101, dtype=torch.float64)
    y = torch.nn.functional.dropout(x, p=0.3, training=True)
    kept = y != 0
    np.testing.assert_allclose(y[kept].numpy(), (x[kept] / 0.7).numpy(), rtol=1e-15)
    mask = kept.double().numpy()
    text = (f"nnlab: 1\ntitle: d\nvalues: {{x: {json.dumps(x.tolist())}, M: {json.dumps(mask.tolist())}}}\n"
            "compute:\n  - D = inverted_dropout(x, M, p=0.3)\n")
    ours = run_graph(build_graph(loads(text, "d.yaml")), arithmetic="float64")
    np.testing.assert_allclose(ours.value("D"), y.numpy(), rtol=1e-15)


def test_same_seed_same_mask_and_another_seed_another():
    x = np.ones(20)
    a, b = _run(x, "dropout(x, 0.5, seed=7)"), _run(x, "dropout(x, 0.5, seed=7)")
    np.testing.assert_array_equal(a.value("D.mask"), b.value("D.mask"))
    assert not np.array_equal(a.value("D.mask"), _run(x, "dropout(x, 0.5, seed=8)").value("D.mask"))
    assert set(np.unique(a.value("D.mask"))) == {0.0, 1.0}
    np.testing.assert_array_equal(a.value("D"), a.value("D.mask") * 2)


def test_p_zero_is_the_identity_with_a_mask_of_ones_and_p_one_gives_zeros():
    x = [1.5, -2.0, 0.25]
    run = _run(x, "dropout(x, 0)")
    np.testing.assert_array_equal(run.value("D.mask"), [1, 1, 1])
    np.testing.assert_array_equal(run.value("D"), x)
    np.testing.assert_array_equal(run.grad("x"), 2 * np.array(x))
    run = _run(x, "dropout(x, 1)")  # PyTorch: p = 1 gives zeros, not a division by zero
    np.testing.assert_array_equal(run.value("D.mask"), [0, 0, 0])
    np.testing.assert_array_equal(run.value("D"), [0, 0, 0])


def test_a_data_batch_draws_one_mask_per_example_and_example_zero_is_the_single_mask():
    x = np.arange(1.0, 13.0).reshape(4, 3)
    run = _run(x, "dropout(x, 0.5, seed=2)", data=True)
    draws = np.random.default_rng(2).random((4, 3))
    np.testing.assert_array_equal(run.value("D.mask"), (draws >= 0.5).astype(float))
    single = _run(x[0], "dropout(x, 0.5, seed=2)")
    np.testing.assert_array_equal(single.value("D.mask"), run.value("D.mask")[0])


def test_exact_arithmetic_stays_exact():
    run = _run([0.3, -0.6, 0.9, 1.2], "dropout(x, 0.25, seed=1)", arithmetic="exact")
    mask = (np.random.default_rng(1).random(4) >= 0.25).astype(int)
    want = [Fraction(str(v)) * m / Fraction(3, 4) for v, m in zip([0.3, -0.6, 0.9, 1.2], mask)]
    assert list(run.values["D"][0]) == want
    assert 0 < mask.sum() < 4
    assert list(run.grads["x"][0]) == [2 * w * m / Fraction(3, 4) for w, m in zip(want, mask)]


@pytest.mark.parametrize("shape", [(5,), (2, 3)])
def test_ops_gradcheck(shape):
    rng = np.random.default_rng(0)
    x, m = rng.normal(size=shape), (rng.random(shape) > 0.4).astype(float)
    out = check_op(REGISTRY["inverted_dropout"], [x, m], p=0.4)
    np.testing.assert_allclose(out[0], x * m / 0.6)
    check_op(REGISTRY["inverted_dropout"], [x, m[..., :1]], p=0.0)  # a broadcast mask
    mask = check_op(REGISTRY["dropout_mask"], [x], p=0.5)  # zero gradient, numerically too (seed 0)
    np.testing.assert_array_equal(mask[0], np.random.default_rng(0).random(shape) >= 0.5)


def test_explanations_say_kept_or_dropped():
    from nnlab.engine.explain import explain

    run = _run([2.0, 4.0], "dropout(x, 0.5, seed=3)")  # draws 0.0856, 0.2368: both dropped
    step = next(s for s in run.steps if s.node == "D.mask")
    e = explain(run, step, (0,))
    assert (e.arithmetic, e.value) == ("[0.0856 ≥ 0.5]", 0) and e.note.startswith("dropped")
    step = next(s for s in run.steps if s.node == "D")
    assert explain(run, step, (1,)).arithmetic == "4×0/(1 − 0.5)"


@pytest.mark.parametrize("call, message", [
    ("dropout(x, 1.5)", "p must be a probability in [0, 1] in 'dropout_mask', got 1.5"),
    ("dropout(x, 0.5, seed=-1)", "seed must be 0 or more in 'dropout_mask', got -1"),
    ("dropout(x, 0.5, seed=0.5)", "seed must be a whole number in 'dropout_mask', got 0.5"),
])
def test_bad_settings_are_located_errors(call, message):
    with pytest.raises(NnlabError) as info:
        _run([1.0, 2.0], call)
    assert info.value.message == message
