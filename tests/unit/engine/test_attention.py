"""``attention(Q, K, V, mask=None, scale=None)``: the scale and the three ways to write a mask.

Proof: PyTorch's ``scaled_dot_product_attention`` with ``scale=`` and a boolean
``attn_mask`` (True = may attend) in float64, values and every gradient; the mask
written as a literal, as a value's name and as one mask per example under ``data``;
``masked_softmax`` against central differences; the steps each form expands into.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnlab.engine.explain import explain
from nnlab.engine.graph import build_graph
from nnlab.engine.ops.base import REGISTRY
from nnlab.engine.run import run_graph
from nnlab.errors import NnlabError
from nnlab.scenario import loads
from tests.unit.engine.gradcheck import check_op

MASK = np.array([[1, 0, 1, 1], [0, 1, 0, 0], [1, 1, 1, 0]])


def _graph(call, values, data=None):
    text = "nnlab: 1\ntitle: att\nvalues: " + json.dumps({k: np.asarray(v).tolist() for k, v in values.items()})
    if data:
        text += "\ndata: " + json.dumps({k: np.asarray(v).tolist() for k, v in data.items()})
    text += f"\noptions: {{arithmetic: float}}\ncompute:\n  - C = {call}\n  - L = sum(C * W)\nbackward: L\n"
    return build_graph(loads(text, "att.yaml"))


def _qkvw(rng, batch=()):
    return {"Q": rng.normal(size=batch + (3, 2)), "K": rng.normal(size=batch + (4, 2)),
            "V": rng.normal(size=batch + (4, 3)), "W": rng.normal(size=batch + (3, 3))}


def _torch(torch, v, mask=None, scale=None):
    T = {k: torch.tensor(v[k], requires_grad=True) for k in "QKV"}
    attn_mask = None if mask is None else torch.tensor(np.asarray(mask) == 1)
    C = torch.nn.functional.scaled_dot_product_attention(T["Q"], T["K"], T["V"], attn_mask=attn_mask, scale=scale)
    return T, C


@pytest.mark.parametrize("mask_form, scale", [
    (None, None), (None, 1), (None, 0.25), ("literal", None), ("name", 1), ("name", None)])
def test_attention_is_torch_sdpa(mask_form, scale):
    torch = pytest.importorskip("torch")
    v = _qkvw(np.random.default_rng(4))
    args = ["Q", "K", "V"]
    if mask_form == "literal":
        args.append(f"mask={MASK.tolist()}")
    elif mask_form == "name":
        args.append("mask=M")
    if scale is not None:
        args.append(f"scale={scale}")
    run = run_graph(_graph(f"attention({', '.join(args)})", {**v, "M": MASK}))
    T, C = _torch(torch, v, MASK if mask_form else None, scale)
    (C * torch.tensor(v["W"])).sum().backward()
    np.testing.assert_allclose(run.value("C"), C.detach().numpy(), rtol=1e-12, atol=1e-14)
    s = 1 / np.sqrt(2) if scale is None else scale
    np.testing.assert_allclose(run.value("C.scores"), v["Q"] @ v["K"].T * s, rtol=1e-13)  # before masking
    for name in "QKV":
        np.testing.assert_allclose(run.grad(name), T[name].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    if mask_form:
        assert (run.value("C.weights")[MASK == 0] == 0).all()  # exactly 0, not e^-inf rounding
        np.testing.assert_array_equal(run.grad("M"), np.zeros((3, 4)))


def test_one_mask_per_example_under_data():
    """A padding mask per example: (N, keys) broadcast over the queries of each example."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    v = _qkvw(rng, (2,))
    pad = np.array([[1, 1, 1, 0], [1, 1, 0, 0]])
    run = run_graph(_graph("attention(Q, K, V, mask=M)", {}, {**v, "M": pad}))
    T, C = _torch(torch, v, pad[:, None, :])
    ((C * torch.tensor(v["W"])).sum(dim=(1, 2)).mean()).backward()  # nnlab: the mean loss over examples
    np.testing.assert_allclose(run.value("C"), C.detach().numpy(), rtol=1e-12, atol=1e-14)
    for name in "QKV":
        np.testing.assert_allclose(run.grad(name), T[name].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_steps_and_texts_of_each_form():
    v = _qkvw(np.random.default_rng(0))
    g = _graph("attention(Q, K, V, scale=1)", v)
    assert g.nodes["C.scores"].text == "Q @ K.T · 1"
    assert g.nodes["C.weights"].op.name == "softmax"
    g = _graph("attention(Q, K, V)", v)
    assert g.nodes["C.scores"].text == "Q @ K.T / √d_k"
    g = _graph("attention(Q, K, V, mask=M)", {**v, "M": MASK})
    assert (g.nodes["C.weights"].op.name, g.nodes["C.weights"].inputs) == ("masked_softmax", ("C.scores", "M"))
    assert g.nodes["C.weights"].text == "softmax over the keys where M = 1"
    g = _graph(f"attention(Q, K, V, mask={MASK.tolist()})", v)
    assert g.nodes["C.weights"].op.params["keep"] == MASK.tolist() and g.nodes["C.weights"].inputs == ("C.scores",)


def test_explanations_of_scores_and_masked_weights():
    v = {"Q": [[1.0, 2.0]], "K": [[3.0, 1.0], [0.5, 1.0]], "V": [[1.0], [2.0]], "W": [[1.0]]}
    run = run_graph(_graph("attention(Q, K, V, mask=[[0, 1]], scale=1)", v))
    scores = next(s for s in run.steps if s.node == "C.scores")
    e = explain(run, scores, (0, 0))
    assert (e.arithmetic, e.value) == ("1×3 + 2×1", 5.0)
    weights = next(s for s in run.steps if s.node == "C.weights")
    assert explain(run, weights, (0, 0)).arithmetic == "0 (masked: mask = 0)"
    e = explain(run, weights, (0, 1))
    assert (e.arithmetic, e.value, e.note) == ("e^2.5 / (e^2.5)", 1.0, "1 masked entry left out of the sum")
    run = run_graph(_graph("attention(Q, K, V, scale=0.5)", v))
    scores = next(s for s in run.steps if s.node == "C.scores")
    assert explain(run, scores, (0, 1)).arithmetic == "(1×0.5 + 2×1) × 0.5"


@pytest.mark.parametrize("shape, mask", [((3, 4), MASK), ((2, 4), MASK[0]), ((2, 2, 3), [[1, 0, 1], [0, 1, 1]])])
def test_masked_softmax_gradcheck(shape, mask):
    x = np.random.default_rng(2).normal(size=shape)
    out = check_op(REGISTRY["masked_softmax"], [x, np.asarray(mask, dtype=float)], skip=(1,))
    keep = np.broadcast_to(np.asarray(mask) == 1, shape)
    want = np.where(keep, np.exp(x), 0)
    np.testing.assert_allclose(out[0], want / want.sum(axis=-1, keepdims=True), rtol=1e-14)
    check_op(REGISTRY["masked_softmax"], [x], keep=np.asarray(mask).tolist())


@pytest.mark.parametrize("call, values, message", [
    ("attention(Q, K, V, mask=M)", {"M": [[1, 0.5, 1, 1]] * 3}, "the mask holds 0.5; a mask is 0 or 1"),
    ("attention(Q, K, V, mask=M)", {"M": [[1, 1], [1, 1]]}, "a mask of shape (2, 2) does not fit scores of shape (3, 4)"),
    ("attention(Q, K, V, mask=M)", {"M": [[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1]]},
     "row [1] of the mask keeps no entry: its weights would be 0/0"),
    ("attention(Q, K, V, mask=1)", {}, "unknown mask 1"),
    ("attention(Q, K, V, scale=-1)", {}, "scale must be a positive number in 'attention', got -1"),
])
def test_bad_masks_and_scales_are_located_errors(call, values, message):
    with pytest.raises(NnlabError) as info:
        run_graph(_graph(call, {**_qkvw(np.random.default_rng(0)), **values}))
    assert info.value.message == message
    assert info.value.loc.line == 6 and info.value.loc.col == 9  # the attention call


@pytest.mark.parametrize("call, answer_scale, message", [
    ("attention(Q, K, V)", 1, "you left out the 1/√d_k of C.scores"),
    ("attention(Q, K, V, scale=1)", 1 / np.sqrt(2), "you divided C.scores by √d_k = √2; here the scale is 1"),
])
def test_diagnosis_knows_which_scale_the_scenario_asks_for(call, answer_scale, message):
    from tests.functional.diagnosis.util import answer_text, check, ids

    Q, K = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.array([[1.0, 0.5], [0.0, 1.0], [-1.0, 0.5]])
    text = ("nnlab: 1\ntitle: att\nvalues:\n  Q: [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]\n"
            "  K: [[1.0, 0.5], [0.0, 1.0], [-1.0, 0.5]]\n  V: [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]\n"
            f"compute:\n  - C = {call}\n")
    item = check(text, "C.scores", answer_text(Q @ K.T * answer_scale))
    assert ids(item) == ["attention-unscaled"]
    assert item.diagnosis[0].message.startswith(message)
