"""The bundled scenarios recomputed independently with PyTorch (float64 autograd).

Each test reads a scenario's own ``values`` (through ``nnlab.scenario.load``), rebuilds
the computation with torch — using torch's own ops where they exist (``conv2d``,
``max_pool2d``, ``GRUCell``, ``RNNCell``, ``scaled_dot_product_attention``,
``cross_entropy``) — and compares every named node and every gradient with nnlab's
run to 1e-10. This guards the bundled library against both an engine regression and
a scenario whose ``expect`` block was accidentally written from nnlab's own output.
Skipped cleanly when torch is not installed.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from nnlab.session import open_session  # noqa: E402
from nnlab.scenario import load  # noqa: E402

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
TOL = 1e-10


class Case:
    """One scenario: its values as torch leaves and nnlab's run of it."""

    def __init__(self, name: str) -> None:
        path = SCENARIOS / f"{name}.yaml"
        scenario = load(path)
        self.v = {k: torch.tensor(np.asarray(d.array, dtype=float), dtype=torch.float64, requires_grad=True)
                  for k, d in scenario.values.items()}
        self.run = open_session(str(path)).run
        self.nodes: dict[str, torch.Tensor] = {}

    def node(self, name: str, t: torch.Tensor) -> torch.Tensor:
        """Record an intermediate result under nnlab's name (and keep its gradient)."""
        if t.requires_grad:
            t.retain_grad()
        self.nodes[name] = t
        return t

    def backward(self, target: torch.Tensor) -> None:
        """The scenario's ``backward``: a node with several elements is summed."""
        target.sum().backward()

    def compare_values(self, *names: str) -> None:
        for n in names or self.nodes:
            np.testing.assert_allclose(self.run.value(n), self.nodes[n].detach().numpy(), rtol=TOL, atol=TOL,
                                       err_msg=f"value of {n}")

    def compare_grads(self, *names: str) -> None:
        for n in names:
            t = self.v.get(n, self.nodes.get(n))
            expected = t.grad.numpy() if t.grad is not None else np.zeros(tuple(t.shape))
            np.testing.assert_allclose(self.run.grad(n), expected, rtol=TOL, atol=TOL, err_msg=f"grad of {n}")


# ------------------------------------------------------------------------ MLP & losses


def test_mlp_2layer_backprop():
    c = Case("mlp-2layer-backprop")
    v = c.v
    z1 = c.node("z1", v["W1"] @ v["x"] + v["b1"])
    a1 = c.node("a1", torch.sigmoid(z1))
    z2 = c.node("z2", v["w2"] @ a1 + v["b2"])
    yhat = c.node("yhat", torch.sigmoid(z2))
    loss = c.node("loss", F.binary_cross_entropy(yhat, v["y"].detach()))
    c.backward(loss)
    c.compare_values()
    c.compare_grads("yhat", "z2", "a1", "z1", "W1", "b1", "w2", "b2", "x")
    # the lecture's closed forms
    assert abs(c.run.grad("z2") - (c.run.value("yhat") - 1)) < TOL


def test_bce_quiz():
    c = Case("bce-quiz")
    yhat = c.node("yhat", torch.sigmoid(c.v["z"]))
    loss = c.node("loss", F.binary_cross_entropy(yhat, c.v["y"].detach()))
    c.backward(loss)
    c.compare_values()
    c.compare_grads("z", "yhat")
    assert abs(float(c.run.grad("z")) - (1 / (1 + math.exp(-2)) - 1)) < TOL


def test_softmax_cross_entropy():
    c = Case("softmax-cross-entropy")
    f, t = c.v["f"], c.v["t"].detach()
    y = c.v["y"].detach().long()
    p = c.node("p", torch.softmax(f, -1))
    loss = c.node("loss", F.cross_entropy(f[None], y[None]))
    c.node("loss_onehot", F.cross_entropy(f[None], t[None]))
    c.node("by_hand", -torch.log(p[0]))
    c.backward(loss)
    c.compare_values()
    c.compare_grads("f")
    np.testing.assert_allclose(c.run.grad("f"), p.detach().numpy() - t.numpy(), atol=TOL)


def test_regression_mse():
    c = Case("regression-mse")
    v = c.v
    H = c.node("H", torch.relu(v["X"] @ v["W1"] + v["b1"]))
    yhat = c.node("yhat", H @ v["w2"] + v["b2"])
    loss = c.node("loss", F.mse_loss(yhat, v["y"].detach()))
    c.backward(loss)
    c.compare_values()
    c.compare_grads("yhat", "H", "W1", "b1", "w2", "b2", "X")


def test_l2_regularization():
    c = Case("l2-regularization")
    v = c.v
    yhat = c.node("yhat", v["X"] @ v["theta"] + v["theta0"])
    data = c.node("data_loss", F.mse_loss(yhat, v["y"].detach()))
    penalty = c.node("penalty", v["lam"] * (v["theta"] ** 2).sum())
    loss = c.node("loss", data + penalty)
    c.backward(loss)
    c.compare_values()
    c.compare_grads("theta", "theta0", "lam", "yhat")


def test_vanishing_gradients():
    c = Case("vanishing-gradients")
    c.node("vanish", torch.prod(c.v["f_small"]))
    c.node("explode", torch.prod(c.v["f_big"]))
    h = c.v["x"]
    for k in range(1, 11):
        h = c.node(f"h{k}", torch.sigmoid(h - 0.5))
    c.backward(h)
    c.compare_values()
    c.compare_grads("x", *[f"h{k}" for k in range(1, 10)])
    # relative check: these numbers are tiny/huge, so compare relative to 0.8**100 etc.
    assert c.run.value("vanish") == pytest.approx(0.8 ** 100, rel=1e-12)
    assert c.run.value("explode") == pytest.approx(1.5 ** 100, rel=1e-12)
    assert c.run.grad("x") == pytest.approx(0.25 ** 10, rel=1e-12)


# ------------------------------------------------------------------------- convolution


def _conv(X, K, b=None, **kw):
    """torch conv2d on nnlab's per-example shapes: X (H,W)|(C,H,W), K (kh,kw)|(C,kh,kw)|(F,C,kh,kw)."""
    x = X[None, None] if X.dim() == 2 else X[None]
    k = K[None, None] if K.dim() == 2 else K[None] if K.dim() == 3 else K
    y = F.conv2d(x, k, None if b is None else b.reshape(-1), **kw)[0]
    return y[0] if K.dim() < 4 else y


@pytest.mark.parametrize("name, lines", [
    ("conv-lecture", {"Y": {}}),
    ("conv-padding", {"Y0": {}, "Y1": {"padding": 1}, "Y3": {"padding": 1, "kernel": "K3"}}),
    ("conv-stride", {"Y": {"stride": (3, 2), "padding": 1}, "Y22": {"stride": 2, "padding": 1}}),
    ("conv-multichannel", {"Y": {}}),
    ("conv-output-shape-quiz", {"Y_lecture": {"stride": 2, "padding": 1},   # padding_total=2: 1 per side
                                "Y_torch": {"stride": 2, "padding": 2}}),
])
def test_conv_forward(name, lines):
    c = Case(name)
    for out, kw in lines.items():
        kw = dict(kw)
        K = c.v[kw.pop("kernel", "K")]
        c.node(out, _conv(c.v["X"], K, **kw))
    c.compare_values()


def test_conv_multichannel_per_channel_parts():
    c = Case("conv-multichannel")
    X, K = c.v["X"], c.v["K"]
    c.node("Y0", _conv(X[0], K[0]))
    c.node("Y1", _conv(X[1], K[1]))
    c.compare_values()


def test_conv_bias_with_gradients():
    c = Case("conv-bias")
    Y = c.node("Y", _conv(c.v["X"], c.v["K"], c.v["b"]))
    c.backward(Y)
    c.compare_values()
    c.compare_grads("X", "K", "b")


def test_conv_multifilter():
    c = Case("conv-multifilter")
    K = c.v["K"].detach()
    np.testing.assert_array_equal(K[1].numpy(), K[0].numpy() + 1)  # d2l's K, K + 1, K + 2
    np.testing.assert_array_equal(K[2].numpy(), K[0].numpy() + 2)
    c.node("Y", _conv(c.v["X"], c.v["K"], c.v["b"]))
    c.compare_values()


def test_conv_alexnet_layer():
    c = Case("conv-alexnet-params")
    c.node("Y", _conv(c.v["X"], c.v["K"], c.v["b"], stride=4))
    c.compare_values()
    assert c.v["K"].numel() + c.v["b"].numel() == 34944


# ----------------------------------------------------------------------------- pooling


def test_pool_max_avg():
    c = Case("pool-max-avg")
    X, T = c.v["X"], c.v["T"]
    M = c.node("M", F.max_pool2d(X[None, None], 2, stride=1)[0, 0])
    c.node("A", F.avg_pool2d(X[None, None], 2, stride=1)[0, 0])
    MT = c.node("MT", F.max_pool2d(T[None, None], 2, stride=1)[0, 0])
    L = c.node("L", M.sum() + MT.sum())
    c.backward(L)
    c.compare_values()
    c.compare_grads("X", "T", "M", "MT")  # ties in T: torch (CPU) also routes to the first maximum


# --------------------------------------------------------------------------- attention


@pytest.mark.parametrize("name, causal", [("attention-weights", False), ("attention-causal", True)])
def test_attention(name, causal):
    c = Case(name)
    Q, K, V = c.v["Q"], c.v["K"], c.v["V"]
    scores = c.node("C.scores", Q @ K.T / math.sqrt(K.shape[-1]))
    masked = scores.masked_fill(torch.ones(3, 3, dtype=torch.bool).triu(1), float("-inf")) if causal else scores
    weights = c.node("C.weights", torch.softmax(masked, -1))
    C = c.node("C", weights @ V)
    c.node("row_sums", weights.sum(-1))
    c.backward(C)
    c.compare_values()
    c.compare_grads("Q", "K", "V", "C.weights")
    sdpa = F.scaled_dot_product_attention(Q[None], K[None], V[None], is_causal=causal)[0]
    np.testing.assert_allclose(c.run.value("C"), sdpa.detach().numpy(), rtol=TOL, atol=TOL)
    if causal:  # masked weights are exactly zero
        w = c.run.value("C.weights")
        assert np.all(w[np.triu_indices(3, 1)] == 0)


def test_transformer_block():
    c = Case("transformer-block")
    v = c.v
    X = v["X"]
    Q, K, V = c.node("Q", X @ v["Wq"]), c.node("K", X @ v["Wk"]), c.node("V", X @ v["Wv"])
    c.node("A.scores", Q @ K.T / math.sqrt(2))
    weights = c.node("A.weights", torch.softmax(c.nodes["A.scores"], -1))
    A = c.node("A", weights @ V)
    H = c.node("H", X + A)
    U = c.node("U", torch.relu(H @ v["W1"] + v["b1"]))
    Fo = c.node("F", U @ v["W2"] + v["b2"])
    Y = c.node("Y", H + Fo)
    c.backward(Y)
    c.compare_values()
    c.compare_grads("X", "Wq", "Wk", "Wv", "W1", "b1", "W2", "b2", "H", "A", "U")


# --------------------------------------------------------------------------- recurrent


def _gru_cell(v: dict, prefix: str = "P.") -> torch.nn.GRUCell:
    """A torch GRUCell holding the group's weights (PyTorch stacks r, z, n as rows)."""
    W = {k[len(prefix):]: t for k, t in v.items() if k.startswith(prefix)}
    hidden, inp = W["W_ir"].shape
    cell = torch.nn.GRUCell(inp, hidden).double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.cat([W["W_ir"], W["W_iz"], W["W_in"]]))
        cell.weight_hh.copy_(torch.cat([W["W_hr"], W["W_hz"], W["W_hn"]]))
        cell.bias_ih.copy_(torch.cat([W["b_ir"], W["b_iz"], W["b_in"]]))
        cell.bias_hh.copy_(torch.cat([W["b_hr"], W["b_hz"], W["b_hn"]]))
    return cell


def _gru_parts(v, x, h, variant):
    """r, z, n, h' written out (reset_before = Cho 2014 / d2l)."""
    P = {k[2:]: t for k, t in v.items() if k.startswith("P.")}
    r = torch.sigmoid(P["W_ir"] @ x + P["b_ir"] + P["W_hr"] @ h + P["b_hr"])
    z = torch.sigmoid(P["W_iz"] @ x + P["b_iz"] + P["W_hz"] @ h + P["b_hz"])
    if variant == "reset_after":
        n = torch.tanh(P["W_in"] @ x + P["b_in"] + r * (P["W_hn"] @ h + P["b_hn"]))
    else:
        n = torch.tanh(P["W_in"] @ x + P["b_in"] + P["W_hn"] @ (r * h) + P["b_hn"])
    return r, z, n, z * h + (1 - z) * n


def test_gru_step_both_variants():
    c = Case("gru-step")
    v = c.v
    for name, variant in (("h_after", "reset_after"), ("h_before", "reset_before")):
        r, z, n, out = _gru_parts(v, v["x"], v["h"], variant)
        c.node(f"{name}.r", r)
        c.node(f"{name}.z", z)
        c.node(f"{name}.n", n)
        c.node(name, out)
    c.compare_values()
    cell = _gru_cell({k: t.detach() for k, t in v.items()})
    torch_out = cell(v["x"].detach()[None], v["h"].detach()[None])[0]
    np.testing.assert_allclose(c.run.value("h_after"), torch_out.detach().numpy(), rtol=TOL, atol=TOL)
    assert np.abs(c.run.value("h_after") - c.run.value("h_before")).max() > 1e-3  # the variants differ


def test_gru_two_steps_against_grucell():
    c = Case("gru-two-steps")
    v = c.v
    cell = _gru_cell({k: t.detach() for k, t in v.items()})
    h0 = v["h0"]
    h1 = c.node("h1", cell(v["x1"].detach()[None], h0[None])[0])
    h2 = c.node("h2", cell(v["x2"].detach()[None], h1[None])[0])
    loss = c.node("loss", F.mse_loss(h2, v["y"].detach()))
    c.backward(loss)
    c.compare_values()
    c.compare_grads("h0", "h1", "h2")
    hidden = v["h0"].shape[0]
    blocks = {"r": slice(0, hidden), "z": slice(hidden, 2 * hidden), "n": slice(2 * hidden, 3 * hidden)}
    for gate, rows in blocks.items():
        for mine, theirs in ((f"P.W_i{gate}", cell.weight_ih), (f"P.W_h{gate}", cell.weight_hh),
                             (f"P.b_i{gate}", cell.bias_ih), (f"P.b_h{gate}", cell.bias_hh)):
            np.testing.assert_allclose(c.run.grad(mine), theirs.grad[rows].numpy(), rtol=TOL, atol=TOL,
                                       err_msg=mine)
    # and the gates of step 2, from the written-out formulas
    r, z, n, _ = _gru_parts({k: t.detach() for k, t in v.items()}, v["x2"].detach(), h1.detach(), "reset_after")
    for part, t in (("r", r), ("z", z), ("n", n)):
        np.testing.assert_allclose(c.run.value(f"h2.{part}"), t.numpy(), rtol=TOL, atol=TOL)


def test_rnn_sequence_against_rnncell():
    c = Case("rnn-sequence")
    v = c.v
    cell = torch.nn.RNNCell(v["x1"].shape[0], v["h0"].shape[0]).double()
    with torch.no_grad():
        cell.weight_ih.copy_(v["W_xh"])
        cell.weight_hh.copy_(v["W_hh"])
        cell.bias_ih.copy_(v["b"])
        cell.bias_hh.zero_()
    h = v["h0"]
    for t in (1, 2, 3):
        h = c.node(f"h{t}", cell(v[f"x{t}"].detach()[None], h[None])[0])
    yhat = c.node("yhat", v["w_out"] @ h)
    loss = c.node("loss", F.mse_loss(yhat, v["y"].detach()))
    c.backward(loss)
    c.compare_values()
    c.compare_grads("h0", "h1", "h2", "h3", "yhat", "w_out")
    for mine, theirs in (("W_xh", cell.weight_ih), ("W_hh", cell.weight_hh), ("b", cell.bias_ih)):
        np.testing.assert_allclose(c.run.grad(mine), theirs.grad.numpy(), rtol=TOL, atol=TOL, err_msg=mine)


def test_lstm_step_against_lstmcell():
    c = Case("lstm-step")
    v = c.v
    P = {k[2:]: t.detach() for k, t in v.items() if k.startswith("P.")}
    cell = torch.nn.LSTMCell(v["x"].shape[0], v["h"].shape[0]).double()
    with torch.no_grad():  # PyTorch stacks the gates as rows in the order i, f, g, o
        cell.weight_ih.copy_(torch.cat([P[f"W_i{g}"] for g in "ifgo"]))
        cell.weight_hh.copy_(torch.cat([P[f"W_h{g}"] for g in "ifgo"]))
        cell.bias_ih.copy_(torch.cat([P[f"b_{g}"] for g in "ifgo"]))
        cell.bias_hh.zero_()
    h1, c1 = cell(v["x"][None], (v["h"][None], v["c"][None]))
    c.node("h1", h1[0])
    c.node("c1", c1[0])
    loss = c.node("loss", F.mse_loss(c.nodes["h1"], v["y"].detach()))
    c.backward(loss)
    c.compare_values()
    c.compare_grads("x", "h", "c", "h1")
    # ∂loss/∂c1 (inside the cell for torch): through h1 = o ⊙ tanh(c1) with o written out
    o = torch.sigmoid(P["W_io"] @ v["x"].detach() + P["W_ho"] @ v["h"].detach() + P["b_o"])
    c1_leaf = c1[0].detach().requires_grad_()
    (g_c1,) = torch.autograd.grad(F.mse_loss(o * torch.tanh(c1_leaf), v["y"].detach()), c1_leaf)
    np.testing.assert_allclose(c.run.grad("c1"), g_c1.numpy(), rtol=TOL, atol=TOL)
    hidden = v["h"].shape[0]
    for k, gate in enumerate("ifgo"):
        rows = slice(k * hidden, (k + 1) * hidden)
        for mine, theirs in ((f"P.W_i{gate}", cell.weight_ih), (f"P.W_h{gate}", cell.weight_hh),
                             (f"P.b_{gate}", cell.bias_ih)):
            np.testing.assert_allclose(c.run.grad(mine), theirs.grad[rows].numpy(), rtol=TOL, atol=TOL,
                                       err_msg=mine)
