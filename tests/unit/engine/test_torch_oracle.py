"""PyTorch as an extra oracle (float64): skipped cleanly when torch is not installed."""

import json
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nnlab.engine.run import run_scenario  # noqa: E402
from nnlab.scenario import loads  # noqa: E402

rng = np.random.default_rng(7)


def _run(values: dict, compute: list[str], target: str):
    text = "nnlab: 1\ntitle: oracle\nvalues:\n" + "".join(
        f"  {k}: {json.dumps(np.asarray(v).tolist())}\n" for k, v in values.items()) + "compute:\n" + "".join(
        f"  - {c}\n" for c in compute) + f"backward: {target}\noptions: {{arithmetic: float}}\n"
    return run_scenario(loads(textwrap.dedent(text)))


def _t(a):
    return torch.tensor(np.asarray(a, dtype=float), dtype=torch.float64, requires_grad=True)


def _compare(run, tensors, out_name, out):
    out.backward(torch.ones_like(out)) if out.dim() else out.backward()
    np.testing.assert_allclose(run.value(out_name), out.detach().numpy(), rtol=1e-12, atol=1e-14)
    for name, t in tensors.items():
        np.testing.assert_allclose(run.grad(name), t.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_mlp_softmax_cross_entropy():
    v = {"x": rng.normal(size=3), "W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=4),
         "W2": rng.normal(size=(3, 4)), "b2": rng.normal(size=3)}
    run = _run({**v, "t": 2}, ["h = tanh(W1 @ x + b1)", "f = W2 @ h + b2", "loss = cross_entropy(f, t)"], "loss")
    T = {k: _t(a) for k, a in v.items()}
    f = T["W2"] @ torch.tanh(T["W1"] @ T["x"] + T["b1"]) + T["b2"]
    loss = torch.nn.functional.cross_entropy(f[None], torch.tensor([2]))
    _compare(run, T, "loss", loss)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce_mse_softmax_logsoftmax(reduction):
    v = {"z": rng.normal(size=(2, 3)), "y": rng.uniform(size=(2, 3)), "q": rng.normal(size=(2, 3))}
    run = _run(v, [f"a = bce(sigmoid(z), y, reduction='{reduction}')",
                   f"b = bce_logits(z, y, reduction='{reduction}')",
                   f"c = mse(q, y, reduction='{reduction}')",
                   "d = sum(softmax(q, axis=0) * log_softmax(z, axis=-1))",
                   "loss = a + b + c + d"], "loss")
    T = {k: _t(a) for k, a in v.items()}
    F = torch.nn.functional
    loss = (F.binary_cross_entropy(torch.sigmoid(T["z"]), T["y"], reduction=reduction)
            + F.binary_cross_entropy_with_logits(T["z"], T["y"], reduction=reduction)
            + F.mse_loss(T["q"], T["y"], reduction=reduction)
            + (torch.softmax(T["q"], 0) * torch.log_softmax(T["z"], -1)).sum())
    _compare(run, T, "loss", loss)


def test_reductions_indexing_and_reuse():
    v = {"A": rng.normal(size=(3, 4)), "B": rng.normal(size=(4, 2))}
    run = _run(v, ["C = A @ B", "m = max(C, axis=0)", "p = prod(A[0:2, 1:3])", "s = mean(C.T[1]) * sum(m) + p",
                   "loss = s * s + exp(s)"], "loss")
    T = {k: _t(a) for k, a in v.items()}
    C = T["A"] @ T["B"]
    s = C.T[1].mean() * C.max(dim=0).values.sum() + T["A"][0:2, 1:3].prod()
    _compare(run, T, "loss", s * s + torch.exp(s))


def test_attention_against_sdpa():
    v = {"Q": rng.normal(size=(5, 4)), "K": rng.normal(size=(5, 4)), "V": rng.normal(size=(5, 3))}
    run = _run(v, ["C = attention(Q, K, V, mask='causal')", "loss = sum(C * C)"], "loss")
    T = {k: _t(a) for k, a in v.items()}
    C = torch.nn.functional.scaled_dot_product_attention(T["Q"], T["K"], T["V"], is_causal=True)
    _compare(run, T, "loss", (C * C).sum())


def test_gru_reset_after_is_torch_grucell():
    cell = torch.nn.GRUCell(2, 3).double()
    wi, wh = cell.weight_ih.detach().numpy(), cell.weight_hh.detach().numpy()
    bi, bh = cell.bias_ih.detach().numpy(), cell.bias_hh.detach().numpy()
    P = {}
    for k, g in enumerate("rzn"):
        P[f"W_i{g}"], P[f"W_h{g}"] = wi[3 * k:3 * k + 3], wh[3 * k:3 * k + 3]
        P[f"b_i{g}"], P[f"b_h{g}"] = bi[3 * k:3 * k + 3], bh[3 * k:3 * k + 3]
    x, h = rng.normal(size=2), rng.normal(size=3)
    text = "nnlab: 1\ntitle: gru\nvalues:\n" + f"  x: {x.tolist()}\n  h: {h.tolist()}\n  P:\n" + "".join(
        f"    {k}: {json.dumps(v.tolist())}\n" for k, v in P.items()) + \
        "compute:\n  - h1 = gru_cell(x, h, P)\n  - loss = sum(h1)\nbackward: loss\n"
    run = run_scenario(loads(text))
    xt, ht = _t(x), _t(h)
    out = cell(xt[None], ht[None])[0]
    out.sum().backward()
    np.testing.assert_allclose(run.value("h1"), out.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(run.grad("x"), xt.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(run.grad("h"), ht.grad.numpy(), rtol=1e-10)
