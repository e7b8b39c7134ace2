"""``layernorm(x, gamma, beta, eps=1e-5)`` over the last axis of each example.

Proof: ``torch.nn.functional.layer_norm(x, (d,), gamma, beta, eps)`` in float64 (values and
every gradient) for a vector, a (tokens × features) matrix and a data batch, NumPy written
from the formula for the parts, and float64 central differences through the whole graph.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnlab.engine.graph import build_graph
from nnlab.engine.run import run_graph
from nnlab.scenario import loads


def _graph(x, gamma, beta, w, *, data=False, eps=None):
    call = "layernorm(x, gamma, beta)" if eps is None else f"layernorm(x, gamma, beta, eps={eps})"
    xs = f"x: {json.dumps(x.tolist())}, w: {json.dumps(w.tolist())}"
    params = f"gamma: {json.dumps(gamma.tolist())}, beta: {json.dumps(beta.tolist())}"
    head = f"data: {{{xs}}}\nvalues: {{{params}}}\n" if data else f"values: {{{xs}, {params}}}\n"
    return build_graph(loads(f"nnlab: 1\ntitle: ln\n{head}options: {{arithmetic: float}}\ncompute:\n"
                             f"  - h = {call}\n  - L = sum(h * w)\nbackward: L\n", "ln.yaml"))


CASES = [((4,), False), ((3, 5), False), ((6, 3), True), ((2, 2, 4), False)]


@pytest.mark.parametrize("shape, data", CASES)
def test_layernorm_is_torch_layer_norm(shape, data):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(len(shape) * 7 + shape[-1])
    x, w = rng.normal(size=shape) * 3 + 1, rng.normal(size=shape)
    gamma, beta = rng.normal(size=shape[-1]), rng.normal(size=shape[-1])
    run = run_graph(_graph(x, gamma, beta, w, data=data, eps=1e-3))
    T = {k: torch.tensor(v, requires_grad=True) for k, v in (("x", x), ("gamma", gamma), ("beta", beta))}
    h = torch.nn.functional.layer_norm(T["x"], (shape[-1],), T["gamma"], T["beta"], eps=1e-3)
    loss = (h * torch.tensor(w)).sum(dim=-1)
    (loss.mean() if data else loss.sum()).backward()  # with data: the mean loss over examples
    np.testing.assert_allclose(run.value("h"), h.detach().numpy(), rtol=1e-12, atol=1e-14)
    for name, t in T.items():
        np.testing.assert_allclose(run.grad(name), t.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    np.testing.assert_allclose(run.value("h.mean"), mu, rtol=1e-14)
    np.testing.assert_allclose(run.value("h.var"), var, rtol=1e-13)  # biased: divided by d
    np.testing.assert_allclose(run.value("h.xhat"), (x - mu) / np.sqrt(var + 1e-3), rtol=1e-12)


@pytest.mark.parametrize("shape, data", CASES[:3])
def test_layernorm_central_differences(shape, data):
    rng = np.random.default_rng(5)
    x, w = rng.normal(size=shape), rng.normal(size=shape)
    gamma, beta = rng.normal(size=shape[-1]), rng.normal(size=shape[-1])
    graph = _graph(x, gamma, beta, w, data=data)
    run = run_graph(graph, arithmetic="float64")
    eps = 1e-6
    for name in ("x", "gamma", "beta"):
        base = np.asarray(run.values[name], dtype=float)
        numeric = np.zeros(base.shape)
        for i in np.ndindex(*base.shape):
            total = []
            for sign in (1, -1):
                moved = base.copy()
                moved[i] += sign * eps
                total.append(float(np.mean(run_graph(graph, {name: moved}, arithmetic="float64").values["L"])))
            numeric[i] = (total[0] - total[1]) / (2 * eps)
        np.testing.assert_allclose(np.reshape(run.grad(name), base.shape), numeric, rtol=1e-6, atol=1e-8,
                                   err_msg=name)


def test_each_row_of_xhat_has_mean_zero_and_its_parts_are_steps():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    graph = _graph(x, np.ones(4), np.zeros(4), np.ones((3, 4)))
    assert [n for n in graph.order if graph.nodes[n].named][:4] == ["h.mean", "h.var", "h.xhat", "h"]
    assert graph.nodes["h.mean"].shape == (3, 1)
    run = run_graph(graph)
    np.testing.assert_allclose(run.value("h.xhat").mean(axis=-1), 0, atol=1e-15)
    np.testing.assert_allclose(run.grad("x").sum(axis=-1), 0, atol=1e-14)  # a shift of a row changes nothing
