"""Matrix products' backward steps compute only the input gradients that are needed."""

import numpy as np

from nnlab.engine.ops.linalg import AttentionScores, MatMul


def test_matmul_backward_computes_only_the_gradients_needed():
    rng = np.random.default_rng(2)
    a, b, g = rng.normal(size=(1, 3, 4)), rng.normal(size=(1, 4, 5)), rng.normal(size=(1, 3, 5))
    op = MatMul()
    op.forward(a, b)
    full = op.backward(g)
    np.testing.assert_allclose(full[0][0], g[0] @ b[0].T)
    np.testing.assert_allclose(full[1][0], a[0].T @ g[0])
    for needs in ((True, False), (False, True)):
        op.needs = needs
        got = op.backward(g)
        for k in range(2):
            assert (got[k] is None) != needs[k]
            if needs[k]:
                np.testing.assert_array_equal(got[k], full[k])


def test_attention_scores_backward_respects_needs():
    rng = np.random.default_rng(3)
    q, k, g = rng.normal(size=(1, 6, 4)), rng.normal(size=(1, 5, 4)), rng.normal(size=(1, 6, 5))
    op = AttentionScores()
    op.forward(q, k)
    gq, gk = op.backward(g)
    np.testing.assert_allclose(gq[0], g[0] @ k[0] / 2.0)
    np.testing.assert_allclose(gk[0], g[0].T @ q[0] / 2.0)
    op.needs = (False, True)
    assert op.backward(g)[0] is None
