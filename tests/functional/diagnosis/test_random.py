"""Random small graphs and random wrong answers: no diagnosis is named that does not reproduce the answer."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlab.check import compare
from tests.functional.diagnosis.util import answer_text, check, value

ACTS = ("sigmoid", "tanh", "relu", "")


@st.composite
def graphs(draw):
    """A random 1- or 2-layer network with a loss, as scenario text, and the names it computes."""
    n_in, n_hid = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    num = st.floats(-1.5, 1.5, allow_nan=False).map(lambda v: round(v, 1))

    def mat(r, c):
        return [[draw(num) for _ in range(c)] for _ in range(r)]

    act1, act2 = draw(st.sampled_from(ACTS)), draw(st.sampled_from(("sigmoid", "")))
    loss = draw(st.sampled_from(("mse", "bce"))) if act2 == "sigmoid" else "mse"
    lines = [f"  - z1 = W1 @ x + b1", f"  - a1 = {act1}(z1)" if act1 else "  - a1 = 2 * z1",
             "  - z2 = w2 @ a1 + b2", f"  - yhat = {act2}(z2)" if act2 else "  - yhat = z2 * 1",
             f"  - loss = {loss}(yhat, y)"]
    text = (f"nnlab: 1\ntitle: random\nvalues:\n  x: {[draw(num) for _ in range(n_in)]}\n"
            f"  W1: {mat(n_hid, n_in)}\n  b1: {[draw(num) for _ in range(n_hid)]}\n"
            f"  w2: {[draw(num) for _ in range(n_hid)]}\n  b2: {draw(num)}\n  y: {draw(st.sampled_from([0, 1]))}\n"
            "compute:\n" + "\n".join(lines) + "\nbackward: loss\n")
    ref = draw(st.sampled_from(["z1", "a1", "z2", "yhat", "loss", "grad(z2)", "grad(w2)", "grad(W1)",
                                "grad(b1)", "grad(a1)"]))
    return text, ref


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.floats(0.05, 5.0), st.sampled_from([-1, 1]), st.integers(0, 2**32 - 1))
def test_no_diagnosis_without_reproducing_the_answer(case, amount, sign, seed):
    text, ref = case
    true = np.asarray(value(text, ref), dtype=float)
    rng = np.random.default_rng(seed)
    wrong = true + sign * amount * rng.uniform(0.5, 1.5, size=true.shape)
    answer = answer_text(wrong)
    item = check(text, ref, answer)
    assert not item.ok
    for f in item.diagnosis:  # every finding reproduces the answer within the answer's tolerance
        assert f.value is not None and compare(f.value, item.expected_value, 5e-7, 0.0), (f.id, f.value, answer)
        assert not compare(f.value, true, 0.0, 1e-9), f.id  # and is not just the truth again


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_the_negative_is_named_sign_flipped(case):
    text, ref = case
    true = np.asarray(value(text, ref), dtype=float)
    if np.all(np.abs(true) < 1e-3):
        return
    item = check(text, ref, answer_text(-true))
    assert "sign-flipped" in [f.id for f in item.diagnosis]


@st.composite
def conv_graphs(draw):
    """A random convolution (and pooling) with random settings."""
    n, k = draw(st.integers(4, 6)), draw(st.integers(2, 3))
    num = st.integers(-3, 3)
    X = [[draw(num) for _ in range(n)] for _ in range(n)]
    K = [[draw(num) for _ in range(k)] for _ in range(k)]
    stride = draw(st.sampled_from([1, 2]))
    pad = draw(st.sampled_from(["", ", padding=1", ", padding_total=1", ", padding_total=2"]))
    pool = draw(st.sampled_from(["maxpool2d", "avgpool2d"]))
    text = (f"nnlab: 1\ntitle: conv\nvalues:\n  X: {X}\n  K: {K}\n  b: {draw(num)}\ncompute:\n"
            f"  - Y = conv2d(X, K, b, stride={stride}{pad})\n  - P = {pool}(Y, 2, stride=1, padding=1)\n"
            "  - L = sum(P)\nbackward: L\n")
    return text, draw(st.sampled_from(["Y", "P", "L", "shape(Y)", "shape(P)", "grad(K)", "grad(b)"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_graphs(), st.floats(0.5, 9.0), st.integers(0, 2**32 - 1))
def test_conv_no_diagnosis_without_reproducing_the_answer(case, amount, seed):
    text, ref = case
    true = np.asarray(value(text, ref), dtype=float)
    rng = np.random.default_rng(seed)
    if ref.startswith("shape"):
        wrong = true + rng.integers(1, 4, size=true.shape)
        answer = answer_text(wrong, digits=0)
    else:
        wrong = true + amount * rng.uniform(0.5, 1.5, size=true.shape) * rng.choice([-1, 1], size=true.shape)
        answer = answer_text(wrong)
    item = check(text, ref, answer)
    assert not item.ok
    for f in item.diagnosis:
        assert f.value is not None and compare(f.value, item.expected_value, item_tol(answer), 0.0), (f.id, answer)
        assert not compare(f.value, true, 0.0, 1e-9), f.id


def item_tol(answer: str) -> float:
    return 0.0 if "." not in answer else 5e-7
