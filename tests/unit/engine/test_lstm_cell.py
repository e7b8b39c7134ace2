"""``lstm_cell(x, h, c, P)``: PyTorch's ``nn.LSTMCell`` as an equation template.

Proof: the gates, the new cell state and the new hidden state against ``torch.nn.LSTMCell``
in float64 (values and every gradient, one example and a data batch), missing biases as
zeros, and float64 central differences through the whole graph.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnlab.engine.graph import build_graph
from nnlab.engine.run import run_graph
from nnlab.errors import NnlabError
from nnlab.scenario import loads

GATES = "ifgo"
WEIGHTS = [f"W_{s}{g}" for g in GATES for s in "ih"]
BIASES = [f"b_{s}{g}" for g in GATES for s in "ih"]


def _params(rng, n_in, n_hid, biases=True):
    P = {f"W_i{g}": rng.normal(size=(n_hid, n_in)) for g in GATES}
    P |= {f"W_h{g}": rng.normal(size=(n_hid, n_hid)) for g in GATES}
    if biases:
        P |= {b: rng.normal(size=n_hid) for b in BIASES}
    return P


def _text(P, x, h, c, *, data=False):
    """``S = lstm_cell(x, h, c, P)`` and ``L = Σ S ⊙ wh + Σ S.c ⊙ wc`` (x, h, c, wh, wc under data if ``data``)."""
    section = "data" if data else "values"
    inputs = f"{section}:\n" + "".join(f"  {k}: {json.dumps(v.tolist())}\n" for k, v in
                                       (("x", x), ("h", h), ("c", c), ("wh", P["_wh"]), ("wc", P["_wc"])))
    group = "".join(f"    {k}: {json.dumps(v.tolist())}\n" for k, v in P.items() if not k.startswith("_"))
    values = ("values:\n" if data else "") + "  P:\n" + group
    return (f"nnlab: 1\ntitle: lstm\n{inputs}{values}options: {{arithmetic: float}}\ncompute:\n"
            "  - S = lstm_cell(x, h, c, P)\n  - L = sum(S * wh) + sum(S.c * wc)\nbackward: L\n")


def _torch_cell(torch, P, n_in, n_hid):
    """An ``nn.LSTMCell`` holding ``P`` (its stacked weights are in the gate order i, f, g, o)."""
    cell = torch.nn.LSTMCell(n_in, n_hid).double()
    zeros = np.zeros(n_hid)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor(np.concatenate([P[f"W_i{g}"] for g in GATES])))
        cell.weight_hh.copy_(torch.tensor(np.concatenate([P[f"W_h{g}"] for g in GATES])))
        cell.bias_ih.copy_(torch.tensor(np.concatenate([P.get(f"b_i{g}", zeros) for g in GATES])))
        cell.bias_hh.copy_(torch.tensor(np.concatenate([P.get(f"b_h{g}", zeros) for g in GATES])))
    return cell


@pytest.mark.parametrize("n, n_in, n_hid, biases", [(None, 3, 4, True), (None, 2, 2, False), (5, 3, 2, True)])
def test_lstm_cell_is_torch_lstmcell(n, n_in, n_hid, biases):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(n_in * 10 + n_hid)
    batch = () if n is None else (n,)
    P = _params(rng, n_in, n_hid, biases)
    x, h, c = rng.normal(size=batch + (n_in,)), rng.normal(size=batch + (n_hid,)), rng.normal(size=batch + (n_hid,))
    P["_wh"], P["_wc"] = rng.normal(size=batch + (n_hid,)), rng.normal(size=batch + (n_hid,))
    run = run_graph(build_graph(loads(_text(P, x, h, c, data=n is not None), "lstm.yaml")))

    cell = _torch_cell(torch, P, n_in, n_hid)
    T = {k: torch.tensor(v, requires_grad=True) for k, v in (("x", x), ("h", h), ("c", c))}
    rows = (lambda t: t) if n else (lambda t: t[None])
    h1, c1 = cell(rows(T["x"]), (rows(T["h"]), rows(T["c"])))
    loss = (h1 * rows(torch.tensor(P["_wh"]))).sum(-1) + (c1 * rows(torch.tensor(P["_wc"]))).sum(-1)
    loss.mean().backward()  # nnlab's gradient with data is that of the mean loss

    out = (lambda t: t.detach().numpy()) if n else (lambda t: t.detach().numpy()[0])
    np.testing.assert_allclose(run.value("S"), out(h1), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(run.value("S.c"), out(c1), rtol=1e-12, atol=1e-14)
    # the gates, from the same stacked pre-activations PyTorch computes
    pre = rows(T["x"]) @ cell.weight_ih.T + cell.bias_ih + rows(T["h"]) @ cell.weight_hh.T + cell.bias_hh
    i, f, g, o = pre.detach().chunk(4, dim=-1)
    for name, want in (("i", torch.sigmoid(i)), ("f", torch.sigmoid(f)), ("g", torch.tanh(g)),
                       ("o", torch.sigmoid(o))):
        np.testing.assert_allclose(run.value(f"S.{name}"), out(want), rtol=1e-12, atol=1e-14, err_msg=name)
    for name, t in T.items():
        np.testing.assert_allclose(run.grad(name), t.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    for k, (wi, wh) in enumerate(zip(cell.weight_ih.grad.chunk(4), cell.weight_hh.grad.chunk(4))):
        g = GATES[k]
        np.testing.assert_allclose(run.grad(f"P.W_i{g}"), wi.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(run.grad(f"P.W_h{g}"), wh.numpy(), rtol=1e-10, atol=1e-12)
        if biases:
            np.testing.assert_allclose(run.grad(f"P.b_i{g}"), cell.bias_ih.grad.chunk(4)[k].numpy(), rtol=1e-10)
            np.testing.assert_allclose(run.grad(f"P.b_h{g}"), cell.bias_hh.grad.chunk(4)[k].numpy(), rtol=1e-10)


def test_lstm_cell_central_differences():
    rng = np.random.default_rng(1)
    P = _params(rng, 2, 3)
    x, h, c = rng.normal(size=2), rng.normal(size=3), rng.normal(size=3)
    P["_wh"], P["_wc"] = rng.normal(size=3), rng.normal(size=3)
    graph = build_graph(loads(_text(P, x, h, c), "lstm.yaml"))
    run = run_graph(graph, arithmetic="float64")
    leaves = {k: np.asarray(run.values[k], dtype=float) for k in ["x", "h", "c", "P.W_hf", "P.b_ig", "P.W_io"]}
    eps = 1e-6
    for name, base in leaves.items():
        numeric = np.zeros(base.shape)
        for i in np.ndindex(*base.shape):
            total = []
            for sign in (1, -1):
                moved = base.copy()
                moved[i] += sign * eps
                total.append(float(run_graph(graph, {name: moved}, arithmetic="float64").values["L"].sum()))
            numeric[i] = (total[0] - total[1]) / (2 * eps)
        np.testing.assert_allclose(np.reshape(run.grad(name), base.shape), numeric, rtol=1e-6, atol=1e-8, err_msg=name)


def test_lstm_cell_steps_and_missing_biases():
    rng = np.random.default_rng(2)
    P = _params(rng, 2, 2, biases=False) | {"b_hf": np.ones(2)}
    P["_wh"], P["_wc"] = np.ones(2), np.ones(2)
    graph = build_graph(loads(_text(P, np.ones(2), np.zeros(2), np.zeros(2)), "lstm.yaml"))
    named = [n for n in graph.order if graph.nodes[n].named]
    assert named[:6] == ["S.i", "S.f", "S.g", "S.o", "S.c", "S"]
    assert graph.nodes["S.c"].text == "f ⊙ c + i ⊙ g"
    assert graph.nodes["S"].text == "o ⊙ tanh(S.c)"
    # a missing bias leaves no step: the one given (b_hf) is the only bias in the graph
    with_bias = [graph.nodes[n].label for n in graph.order if "P.b_" in graph.nodes[n].label]
    assert with_bias == ["P.W_hf @ h + P.b_hf", "P.W_if @ x + P.W_hf @ h + P.b_hf"]


def test_a_missing_weight_is_named():
    rng = np.random.default_rng(3)
    P = {k: v for k, v in _params(rng, 2, 2).items() if k != "W_hg"}
    P["_wh"], P["_wc"] = np.ones(2), np.ones(2)
    with pytest.raises(NnlabError, match="group 'P' has no W_hg") as info:
        build_graph(loads(_text(P, np.ones(2), np.zeros(2), np.zeros(2)), "lstm.yaml"))
    assert info.value.hint == "lstm_cell needs " + " ".join(WEIGHTS) + " (biases b_… are optional)."
