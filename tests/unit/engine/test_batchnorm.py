"""Ops across the example axis: batch_mean, and batchnorm built from it.

Proof two independent ways: central differences in float64 through the whole graph
(the gradient runs through the batch statistics), NumPy written from the formulas, and
PyTorch's ``batch_norm(training=True)`` when installed.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from nnlab.engine.explain import explain
from nnlab.engine.graph import build_graph
from nnlab.engine.ops.base import REGISTRY
from nnlab.engine.run import run_graph
from nnlab.errors import NnlabError
from nnlab.scenario import load, loads
from nnlab.scenario.yamlsrc import load_yaml
from tests.unit.engine.gradcheck import check_op

ROOT = Path(__file__).resolve().parents[3]
EPS = 1e-5


def _scenario(x, gamma, beta, w, eps=None):
    """``h = batchnorm(x, gamma, beta)``, loss = Σ h ⊙ w per example (w: data, one weight per element)."""
    call = "batchnorm(x, gamma, beta)" if eps is None else f"batchnorm(x, gamma, beta, eps={eps})"
    return loads(f"""nnlab: 1
title: bn
data: {{x: {json.dumps(x.tolist())}, w: {json.dumps(w.tolist())}}}
values: {{gamma: {json.dumps(gamma.tolist())}, beta: {json.dumps(beta.tolist())}}}
options: {{arithmetic: float}}
compute:
  - h = {call}
  - loss = sum(h * w)
backward: loss
""", "bn.yaml")


def _reference(x, gamma, beta, eps=EPS):
    """Per feature (vector examples) or per channel (the first axis of an example, over the
    examples and the channel's positions), as PyTorch's BatchNorm1d/2d."""
    axes = (0,) + tuple(range(2, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    xhat = (x - mu) / np.sqrt(var + eps)
    return mu[0], var[0], xhat, gamma * xhat + beta


def _target(graph, leaves):
    """The engine's backward target: the mean over examples of each example's loss."""
    return float(np.mean(run_graph(graph, leaves, target="loss", record=False).values["loss"]))


def _numeric(graph, leaves, name, h=1e-6):
    base = leaves[name]
    grad = np.zeros_like(base)
    for i in np.ndindex(*base.shape):
        plus, minus = dict(leaves), dict(leaves)
        plus[name], minus[name] = base.copy(), base.copy()
        plus[name][i] += h
        minus[name][i] -= h
        grad[i] = (_target(graph, plus) - _target(graph, minus)) / (2 * h)
    return grad


@pytest.mark.parametrize("shape", [(5,), (4, 3), (3, 2, 2)])
def test_batch_mean_gradcheck(shape):
    x = np.random.default_rng(0).normal(size=shape)
    out = check_op(REGISTRY["batch_mean"], [x], batched=True)
    axes = (0,) + tuple(range(2, x.ndim))  # the examples, and the positions of each channel
    np.testing.assert_allclose(out, x.mean(axis=axes, keepdims=True), rtol=1e-14)


@pytest.mark.parametrize("n, features", [(2, (3,)), (4, (3,)), (5, (2, 3)), (3, (1,))])
def test_batchnorm_gradcheck_through_the_batch_statistics(n, features):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n,) + features) * 2 + 1
    gamma, beta = rng.normal(size=features), rng.normal(size=features)
    w = rng.normal(size=(n,) + features)
    graph = build_graph(_scenario(x, gamma, beta, w))
    run = run_graph(graph)
    mu, var, xhat, out = _reference(x, gamma, beta)
    np.testing.assert_allclose(run.value("h.mean"), mu, rtol=1e-12)
    np.testing.assert_allclose(run.value("h.var"), var, rtol=1e-12)
    np.testing.assert_allclose(run.value("h.xhat"), xhat, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(run.value("h"), out, rtol=1e-10, atol=1e-12)
    leaves = {k: np.array(v, dtype=float) for k, v in run.values.items() if graph.nodes[k].kind != "op"}
    for name in ("x", "gamma", "beta"):
        want = _numeric(graph, leaves, name)
        np.testing.assert_allclose(run.grads[name], want, rtol=1e-6, atol=1e-8, err_msg=name)


def test_the_statistics_are_shared_rows_and_the_rest_per_example():
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    graph = build_graph(_scenario(x, np.ones(3), np.zeros(3), w))
    assert not graph.nodes["h.mean"].batched and not graph.nodes["h.var"].batched
    assert graph.nodes["h.xhat"].batched and graph.nodes["h"].batched
    run = run_graph(graph)
    assert run.value("h.mean").shape == (3,) and run.value("h.xhat").shape == (4, 3)
    assert run.grad("h.var").shape == (3,) and run.grad("x").shape == (4, 3)
    # a constant shift of a feature changes nothing after normalization: columns of grad(x) sum to 0
    np.testing.assert_allclose(run.grad("x").sum(axis=0), 0, atol=1e-12)


@pytest.mark.parametrize("n, eps", [(4, None), (6, 0.1), (2, None)])
def test_against_torch(n, eps):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(n)
    x, w = rng.normal(size=(n, 3)) * 3, rng.normal(size=(n, 3))
    gamma, beta = rng.normal(size=3), rng.normal(size=3)
    run = run_graph(build_graph(_scenario(x, gamma, beta, w, eps)))
    X, G, B = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, gamma, beta))
    H = torch.nn.functional.batch_norm(X, None, None, G, B, training=True, eps=EPS if eps is None else eps)
    ((H * torch.tensor(w)).sum(dim=1).mean()).backward()
    np.testing.assert_allclose(run.value("h"), H.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(run.grad("x"), X.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(run.grad("gamma"), G.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(run.grad("beta"), B.grad.numpy(), rtol=1e-9, atol=1e-12)


def _bundled():
    scenario = load(ROOT / "scenarios" / "batchnorm-batch.yaml")
    x, t = (scenario.data[k].array for k in ("x", "t"))
    gamma, beta = (scenario.values[k].array for k in ("gamma", "beta"))
    expect = load_yaml((ROOT / "scenarios" / "batchnorm-batch.yaml").read_text(), "bn.yaml").to_py()["expect"]
    return x, t, gamma, beta, expect


def test_the_bundled_scenario_answers_by_numpy():
    """The scenario's expect: values, recomputed from the formulas (no nnlab involved)."""
    x, t, gamma, beta, expect = _bundled()
    mu, var, xhat, h = _reference(x, gamma, beta)
    n, f = x.shape
    dh = 2 * (h - t) / f / n                      # mse per example, mean over examples
    dxhat = dh * gamma
    dx = (n * dxhat - dxhat.sum(0) - xhat * (dxhat * xhat).sum(0)) / (n * np.sqrt(var + EPS))
    for key, value in {"h.mean": mu, "h.var": var, "h.xhat": xhat, "h": h, "mean(loss)": ((h - t) ** 2).mean(),
                       "grad(beta)": dh.sum(0), "grad(gamma)": (dh * xhat).sum(0), "grad(x)": dx}.items():
        np.testing.assert_allclose(value, np.array(expect[key], dtype=float), atol=5e-5 if key != "grad(x)" else 5e-7,
                                   err_msg=key)


def test_the_bundled_scenario_answers_by_torch():
    torch = pytest.importorskip("torch")
    x, t, gamma, beta, expect = _bundled()
    X, G, B = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, gamma, beta))
    H = torch.nn.functional.batch_norm(X, None, None, G, B, training=True, eps=EPS)
    loss = torch.nn.functional.mse_loss(H, torch.tensor(t), reduction="none").mean(dim=1)
    loss.mean().backward()
    for key, value in {"h": H, "mean(loss)": loss.mean(), "grad(x)": X.grad, "grad(gamma)": G.grad,
                       "grad(beta)": B.grad}.items():
        np.testing.assert_allclose(value.detach().numpy(), np.array(expect[key], dtype=float),
                                   atol=5e-5 if key != "grad(x)" else 5e-7, err_msg=key)


def test_explaining_a_statistic_names_the_batch():
    run = run_graph(build_graph(load(ROOT / "scenarios" / "batchnorm-batch.yaml")))
    step = run.step_of("h.mean")
    ex = explain(run, step, (1,), example=2)
    assert ex.formula == "h.mean = (1/N) Σₙ x[n,1]"
    assert ex.arithmetic == "(2 + 0 + 4 + 2) / 4" and ex.value == 2
    assert "N = 4 examples" in ex.note and "x[0,1]" in ex.note and "x[3,1]" in ex.note
    back = run.steps[-1]  # the last backward step: into x through the mean
    assert back.node == "h.mean" and back.inputs == ("x",)
    ex = explain(run, back, (0,), example=1)
    assert ex.arithmetic.endswith("·0.25") and ex.value == pytest.approx(run.contributions[("h.mean", 0)][1, 0])


def test_batch_statistics_need_a_data_batch():
    with pytest.raises(NnlabError, match="across the examples of a data batch") as info:
        build_graph(loads("""nnlab: 1
title: t
values: {x: [1.0, 2.0], g: [1.0, 1.0], b: [0.0, 0.0]}
compute:
  - h = batchnorm(x, g, b)
""", "t.yaml"))
    assert info.value.loc.col == info.value.loc.source.index("batchnorm") + 1


def test_batch_mean_is_exact_on_decimals():
    run = run_graph(build_graph(loads("""nnlab: 1
title: t
data: {x: [[0.1, 1], [0.2, 2], [0.4, 4]]}
compute:
  - m = batch_mean(x)
  - s = sum(m * x)
backward: s
""", "t.yaml")))
    assert run.arithmetic == "exact"
    assert run.exact_value("m")[0] == Fraction(7, 30)  # one shared row: no example axis
    # the target is the mean over examples of Σⱼ mⱼ·x[n, j] = Σⱼ mⱼ², so ∂/∂x[n, j] = 2·mⱼ/N
    assert run.grads["x"][0, 1] == Fraction(14, 9)


def test_local_and_dependents_match_the_backward():
    op = REGISTRY["batch_mean"]()
    x = np.random.default_rng(2).normal(size=(3, 2, 2))  # 3 examples, 2 channels of 2 positions
    out = op.forward(x)
    assert out.shape == (1, 2, 1)
    op.out_shape, op.in_shapes = out.shape, [x.shape]
    for n in range(3):
        for i in np.ndindex(2, 2):
            assert op.dependents(0, i, (2, 1)) == [(i[0], 0)]
            for o in np.ndindex(2, 1):
                g = np.zeros(out.shape)
                g[(0,) + o] = 1
                assert op.local(0, (0,) + o, (n,) + i) == pytest.approx(op.backward(g)[0][(n,) + i])


@pytest.mark.parametrize("shape", [(4, 3, 2, 2), (2, 2, 3, 3), (5, 3, 4)])
def test_images_are_normalized_per_channel_as_torch_batchnorm(shape):
    """(N, C, H, W) as BatchNorm2d and (N, C, L) as BatchNorm1d: one mean and variance per
    channel over N·H·W values, PyTorch's weight and bias of shape (C,)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(sum(shape))
    x, w = rng.normal(size=shape) * 2 + 1, rng.normal(size=shape)
    gamma, beta = rng.normal(size=shape[1]), rng.normal(size=shape[1])
    graph = build_graph(_scenario(x, gamma, beta, w))
    run = run_graph(graph)
    X, G, B = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, gamma, beta))
    norm = torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d
    layer = norm(shape[1], eps=EPS, dtype=torch.float64).train()
    with torch.no_grad():
        layer.weight.copy_(G)
        layer.bias.copy_(B)
    H = layer(X)
    ((H * torch.tensor(w)).sum(dim=tuple(range(1, len(shape)))).mean()).backward()
    np.testing.assert_allclose(run.value("h"), H.detach().numpy(), rtol=1e-10, atol=1e-12)
    axes = (0,) + tuple(range(2, len(shape)))
    np.testing.assert_allclose(run.value("h.mean").ravel(), x.mean(axis=axes), rtol=1e-12)
    np.testing.assert_allclose(run.value("h.var").ravel(), x.var(axis=axes), rtol=1e-12)  # biased
    assert graph.nodes["h.mean"].shape == (shape[1],) + (1,) * (len(shape) - 2)
    np.testing.assert_allclose(run.grad("x"), X.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(run.grad("gamma"), layer.weight.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(run.grad("beta"), layer.bias.grad.numpy(), rtol=1e-9, atol=1e-12)
    if shape[0] <= 2:  # central differences through the per-channel statistics
        leaves = {k: np.array(v, dtype=float) for k, v in run.values.items() if graph.nodes[k].kind != "op"}
        for name in ("x", "gamma"):
            np.testing.assert_allclose(run.grads[name], _numeric(graph, leaves, name), rtol=1e-6, atol=1e-8)


def test_channel_affine_gradcheck():
    rng = np.random.default_rng(4)
    x, g, b = rng.normal(size=(2, 3, 2)), rng.normal(size=2), rng.normal(size=2)
    out = check_op(REGISTRY["channel_affine"], [x, g, b])
    np.testing.assert_allclose(out[0], g[:, None, None] * x + b[:, None, None], rtol=1e-15)
    out = check_op(REGISTRY["channel_affine"], [x[0], rng.normal(size=3), rng.normal(size=3)])  # (C, L), (C,) γ, β
    assert out.shape == (1, 3, 2)
    out = check_op(REGISTRY["channel_affine"], [x[0, 0], g, b])  # a vector: elementwise
    np.testing.assert_allclose(out[0], g * x[0, 0] + b, rtol=1e-15)


def test_sympy_agrees_through_the_batch_statistics():
    """The symbolic oracle evaluates batch_mean on every example's symbols and differentiates."""
    pytest.importorskip("sympy")
    from nnlab.symbolic.kit import NoSymbolicForm
    from nnlab.symbolic.ops import forward
    from nnlab.symbolic.verify import verify_gradients

    run = run_graph(build_graph(load(ROOT / "scenarios" / "batchnorm-batch.yaml")))
    report = verify_gradients(run)
    assert report.qualified and report.ok, report.summary
    assert report.checked == 12 + 3 + 3 + 12  # x and t (4×3 each), gamma, beta
    with pytest.raises(NoSymbolicForm, match="across the examples"):
        forward(run.graph.nodes["h.mean"].op, [np.zeros(3, dtype=object)])
