"""The bundled scenarios of lstm_cell, dropout and masked/unscaled attention, recomputed by PyTorch.

``tests/scenarios/test_bundled.py`` checks their ``expect:`` blocks against nnlab; here
PyTorch computes the same values and gradients from the same files, independently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnlab.session import open_session

torch = pytest.importorskip("torch")
F = torch.nn.functional
SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


def _session(name):
    return open_session(str(SCENARIOS / f"{name}.yaml"))


def _t(session, name):
    return torch.tensor(np.asarray(session.scenario.values[name].array, dtype=float), requires_grad=True)


def _same(session, name, tensor):
    np.testing.assert_allclose(np.asarray(session.run.value(name), dtype=float), tensor.detach().numpy(),
                               rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("name, mask, scale", [("attention-masked", "M", None), ("attention-unscaled", None, 1.0)])
def test_attention_scenarios(name, mask, scale):
    s = _session(name)
    T = {k: _t(s, k) for k in "QKV"}
    attn_mask = None if mask is None else torch.tensor(s.scenario.values[mask].array == 1)
    out = "C" if mask else "A"
    C = F.scaled_dot_product_attention(T["Q"], T["K"], T["V"], attn_mask=attn_mask, scale=scale)
    C[:, 0].sum().backward()
    _same(s, out, C)
    for k in "QKV":
        np.testing.assert_allclose(s.run.grad(k), T[k].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=k)


def test_lstm_cell_scenario():
    s = _session("lstm-cell")
    P = {k.split(".")[1]: v.array for k, v in s.scenario.values.items() if k.startswith("P.")}
    cell = torch.nn.LSTMCell(2, 2).double()
    zeros = np.zeros(2)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor(np.concatenate([P[f"W_i{g}"] for g in "ifgo"])))
        cell.weight_hh.copy_(torch.tensor(np.concatenate([P[f"W_h{g}"] for g in "ifgo"])))
        cell.bias_ih.copy_(torch.tensor(np.concatenate([P.get(f"b_i{g}", zeros) for g in "ifgo"])))
        cell.bias_hh.copy_(torch.tensor(np.concatenate([P.get(f"b_h{g}", zeros) for g in "ifgo"])))
    x, h, c = (_t(s, k) for k in ("x", "h", "c"))
    h1, c1 = cell(x[None], (h[None], c[None]))
    loss = F.mse_loss(h1[0], torch.tensor(s.scenario.values["y"].array))
    loss.backward()
    _same(s, "S", h1[0])
    _same(s, "S.c", c1[0])
    _same(s, "loss", loss)
    for k, t in (("x", x), ("h", h), ("c", c)):
        np.testing.assert_allclose(s.run.grad(k), t.grad.numpy(), rtol=1e-10, err_msg=k)
    np.testing.assert_allclose(s.run.grad("P.W_ig"), cell.weight_ih.grad[4:6].numpy(), rtol=1e-10)


def test_dropout_scenario():
    s = _session("dropout")
    z, w = _t(s, "z"), _t(s, "w")
    mask = torch.tensor((np.random.default_rng(1).random(6) >= 0.5).astype(float))  # the documented draw
    D = torch.relu(z) * mask / (1 - 0.5)  # F.dropout(training=True), given its mask
    loss = F.mse_loss(w @ D, torch.tensor(float(s.scenario.values["y"].array)))
    loss.backward()
    _same(s, "D.mask", mask)
    _same(s, "D", D)
    _same(s, "loss", loss)
    np.testing.assert_allclose(np.asarray(s.run.grad("z"), dtype=float), z.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(s.run.grad("w"), dtype=float), w.grad.numpy(), rtol=1e-12)


def test_batchnorm_images_scenario():
    s = open_session(str(SCENARIOS / "batchnorm-images.yaml"))
    x = torch.tensor(np.asarray(s.scenario.data["x"].array, dtype=float), requires_grad=True)
    t = torch.tensor(np.asarray(s.scenario.data["t"].array, dtype=float))
    layer = torch.nn.BatchNorm2d(2, eps=1e-5, dtype=torch.float64).train()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(s.scenario.values["gamma"].array))
        layer.bias.copy_(torch.tensor(s.scenario.values["beta"].array))
    h = layer(x)
    loss = ((h - t) ** 2).mean(dim=(1, 2, 3))  # mse per image
    loss.mean().backward()
    _same(s, "h", h)
    _same(s, "loss", loss)
    np.testing.assert_allclose(s.run.grad("x"), x.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(s.run.grad("gamma"), layer.weight.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(s.run.grad("beta"), layer.bias.grad.numpy(), rtol=1e-9, atol=1e-12)
