"""Every op's backward against central finite differences (float64), over several shapes."""

import numpy as np
import pytest

from nnlab.engine.ops.base import REGISTRY
from tests.unit.engine.gradcheck import check_op

rng = np.random.default_rng(42)


def r(*shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, size=shape)


def pos(*shape):
    return rng.uniform(0.2, 2.0, size=shape)


UNARY_SHAPES = [(), (3,), (2, 3), (2, 2, 2)]


@pytest.mark.parametrize("shape", UNARY_SHAPES)
@pytest.mark.parametrize("name", ["neg", "exp", "sigmoid", "tanh", "relu", "abs"])
def test_unary(name, shape):
    x = r(*shape)
    if name in ("relu", "abs"):
        x = np.where(np.abs(x) < 0.05, 0.5, x)  # keep away from the kink
    check_op(REGISTRY[name], [x])


@pytest.mark.parametrize("shape", UNARY_SHAPES)
@pytest.mark.parametrize("name", ["log", "sqrt"])
def test_unary_positive(name, shape):
    check_op(REGISTRY[name], [pos(*shape)])


def test_step_gradient_is_zero():
    op, = [REGISTRY["step"]]
    check_op(op, [np.array([-1.0, 0.5, 2.0])])


BINARY_SHAPES = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 2)), ((2, 3), ())]


@pytest.mark.parametrize("sa,sb", BINARY_SHAPES)
@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
def test_binary(name, sa, sb):
    b = pos(*sb) if name == "div" else r(*sb)
    check_op(REGISTRY[name], [r(*sa), b])


@pytest.mark.parametrize("sa,sb", BINARY_SHAPES[:4])
def test_pow(sa, sb):
    check_op(REGISTRY["pow"], [pos(*sa), r(*sb)])


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                                   ((2, 2, 3), (3, 4)), ((2, 3), (2, 3, 4))])
def test_matmul(sa, sb):
    check_op(REGISTRY["matmul"], [r(*sa), r(*sb)])


@pytest.mark.parametrize("batched_a,batched_b", [(False, True), (True, False), (True, True)])
@pytest.mark.parametrize("sa,sb", [((2, 3), (3,)), ((3,), (3, 2)), ((3,), (3,)), ((2, 3), (3, 2))])
def test_matmul_batched(sa, sb, batched_a, batched_b):
    a = r(4, *sa) if batched_a else r(1, *sa)
    b = r(4, *sb) if batched_b else r(1, *sb)
    check_op(REGISTRY["matmul"], [a, b], batched=True)


@pytest.mark.parametrize("shape,axis", [((4,), None), ((2, 3), None), ((2, 3), 0), ((2, 3), -1),
                                        ((2, 3, 2), [0, 2])])
@pytest.mark.parametrize("name", ["sum", "mean", "max", "prod"])
def test_reductions(name, shape, axis):
    x = r(*shape)
    check_op(REGISTRY[name], [x], axis=axis)


def test_prod_with_zero():
    check_op(REGISTRY["prod"], [np.array([2.0, 0.0, 3.0])])


def test_max_ties_go_to_first():
    op = REGISTRY["max"]()
    op.forward(np.array([[1.0, 3.0, 3.0, 2.0]]))
    (g,) = op.backward(np.array([1.0]))
    assert g.tolist() == [[0.0, 1.0, 0.0, 0.0]]


@pytest.mark.parametrize("shape,axis", [((4,), -1), ((2, 3), -1), ((2, 3), 0), ((2, 2, 3), 1)])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax(name, shape, axis):
    check_op(REGISTRY[name], [r(*shape)], axis=axis)


def test_softmax_causal_mask():
    x = r(3, 3)
    out = check_op(REGISTRY["softmax"], [x], mask="causal")
    assert out[0][0, 1] == 0.0 and out[0][0, 2] == 0.0 and out[0][1, 2] == 0.0
    np.testing.assert_allclose(out[0].sum(axis=-1), 1.0)


def test_softmax_stable_for_large_logits():
    op = REGISTRY["softmax"]()
    p = op.forward(np.array([[1000.0, 1000.0, 0.0]]))
    np.testing.assert_allclose(p[0], [0.5, 0.5, 0.0], atol=1e-300)
    lop = REGISTRY["log_softmax"]()
    assert np.isfinite(lop.forward(np.array([[1000.0, 0.0]]))).all()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(), (3,), (2, 2)])
def test_bce(reduction, shape):
    p = rng.uniform(0.1, 0.9, size=shape)
    y = rng.uniform(0, 1, size=shape)
    check_op(REGISTRY["bce"], [p, y], reduction=reduction)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", ["bce_logits", "mse"])
def test_logit_and_mse(name, reduction):
    check_op(REGISTRY[name], [r(2, 3), rng.uniform(0, 1, size=(2, 3))], reduction=reduction)


def test_bce_clamps_log_at_minus_100():
    op = REGISTRY["bce"](reduction="none")
    out = op.forward(np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]]))
    assert out.tolist() == [[100.0, 100.0]]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(4,), (2, 4)])
def test_cross_entropy_probabilities(shape, reduction):
    t = rng.uniform(0, 1, size=shape)
    t = t / t.sum(axis=-1, keepdims=True)
    op = REGISTRY["cross_entropy"]
    inst = op(reduction=reduction)
    inst.infer(shape, shape)
    check_op(op, [r(*shape), t], reduction=reduction)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_indices(reduction):
    check_op(REGISTRY["cross_entropy"], [r(3, 4), np.array([0.0, 3.0, 1.0])], skip=(1,), reduction=reduction)


def test_cross_entropy_value():
    op = REGISTRY["cross_entropy"]()
    out = op.forward(np.array([[[1.0, 2.0, 3.0]]]), np.array([[2.0]]))
    expected = -np.log(np.exp(3) / (np.exp(1) + np.exp(2) + np.exp(3)))
    assert out[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("key", [[0], [1, 2], [slice(0, 2)], [slice(None), 1], [-1, slice(1, None)]])
def test_index(key):
    check_op(REGISTRY["index"], [r(3, 4)], key=key)


@pytest.mark.parametrize("name,params", [("transpose", {}), ("transpose", {"axes": [1, 0, 2]}),
                                         ("reshape", {"shape": [6, 2]}), ("flatten", {})])
def test_shape_ops(name, params):
    x = r(2, 3, 2)
    op = REGISTRY[name](**params)
    op.infer((2, 3, 2))
    check_op(REGISTRY[name], [x], **op.params)


@pytest.mark.parametrize("sa,sb,sc", [((2, 3), (3,), (2,)), ((2, 3), (3,), ()), ((3,), (3,), ()),
                                      ((3,), (3, 2), (2,)), ((2, 3), (3, 2), (2,)), ((3,), (3,), (2,))])
def test_affine(sa, sb, sc):
    check_op(REGISTRY["affine"], [r(*sa), r(*sb), r(*sc)])


def test_affine_local_matches_one_hot_default():
    from nnlab.engine.ops.base import Op

    op = REGISTRY["affine"]()
    xs = [r(1, 2, 3), r(1, 3), r(1, 2)]
    out = op.forward(*xs)
    op.out_shape, op.in_shapes = out.shape, [x.shape for x in xs]
    for k, x in enumerate(xs):
        for i in np.ndindex(*x.shape[1:]):
            for o in np.ndindex(*out.shape[1:]):
                assert op.local(k, (0,) + o, (0,) + i) == pytest.approx(Op.local(op, k, (0,) + o, (0,) + i))
            deps = op.dependents(k, i, out.shape[1:])
            nonzero = [o for o in np.ndindex(*out.shape[1:]) if Op.local(op, k, (0,) + o, (0,) + i) != 0]
            assert deps is None or set(nonzero) <= set(deps)


@pytest.mark.parametrize("t,s,d", [(3, 3, 2), (2, 4, 3), (1, 1, 1)])
def test_attention_scores(t, s, d):
    out = check_op(REGISTRY["attention_scores"], [r(t, d), r(s, d)])
    assert out.shape == (1, t, s)


def test_attention_scores_local_matches_one_hot_default():
    from nnlab.engine.ops.base import Op

    op = REGISTRY["attention_scores"]()
    xs = [r(1, 3, 2), r(1, 4, 2)]
    out = op.forward(*xs)
    op.out_shape, op.in_shapes = out.shape, [x.shape for x in xs]
    for k, x in enumerate(xs):
        for i in np.ndindex(*x.shape[1:]):
            deps = set(op.dependents(k, i, out.shape[1:]))
            for o in np.ndindex(*out.shape[1:]):
                want = Op.local(op, k, (0,) + o, (0,) + i)
                assert op.local(k, (0,) + o, (0,) + i) == pytest.approx(want)
                assert want == 0 or o in deps


def test_cross_entropy_unnormalized_probability_targets():
    t = np.array([[0.5, 0.2, 0.1], [0.3, 0.3, 0.9]])
    check_op(REGISTRY["cross_entropy"], [r(2, 3), t])


@pytest.mark.parametrize("name,inputs", [
    ("sigmoid", [(2, 3)]), ("relu", [(4,)]), ("exp", [(2, 2)]),
    ("add", [(2, 3), (3,)]), ("mul", [(2, 3), (2, 1)]), ("div", [(3,), ()]), ("sub", [(), (2,)]),
])
def test_elementwise_local_and_dependents_match_one_hot_default(name, inputs):
    from nnlab.engine.ops.base import Op

    op = REGISTRY[name]()
    xs = [pos(1, *s) if name == "div" else r(1, *s) for s in inputs]
    out = op.forward(*xs)
    op.out_shape, op.in_shapes = out.shape, [x.shape for x in xs]
    for k, x in enumerate(xs):
        for i in np.ndindex(*x.shape[1:]):
            deps = op.dependents(k, i, out.shape[1:])
            for o in np.ndindex(*out.shape[1:]):
                want = Op.local(op, k, (0,) + o, (0,) + i)
                assert op.local(k, (0,) + o, (0,) + i) == pytest.approx(want, rel=1e-12, abs=1e-15)
                assert (want == 0) or (o in deps)


def test_long_reductions_elide_the_middle():
    op = REGISTRY["sum"]()
    x = np.arange(100.0)
    out = op.forward(x[None])
    ex = op.explain((), [x], out[0], ["x"], "s", 4)
    assert ex.arithmetic.startswith("0 + 1 + 2") and "(88 more terms)" in ex.arithmetic and ex.value == 4950
