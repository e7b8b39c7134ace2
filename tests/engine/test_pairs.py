"""The two products of a matrix product's backward: run together, only when needed."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from nnlab.engine.ops.linalg import AttentionScores, MatMul
from nnlab.engine.pairs import both


def test_both_gives_the_same_bits_as_one_after_the_other():
    rng = np.random.default_rng(1)
    s, k, q = rng.normal(size=(512, 512)), rng.normal(size=(512, 64)), rng.normal(size=(512, 64))
    expected = (s @ k, s.T @ q)
    for _ in range(5):
        got = both(lambda: s @ k, lambda: s.T @ q, 1 << 30)   # large: on two threads
        assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
    assert both(lambda: 1, lambda: 2, 0) == (1, 2)             # small: in sequence


def test_one_thread_limit_keeps_products_in_sequence():
    out = subprocess.run([sys.executable, "-c", "from nnlab.engine import pairs; print(pairs.CPUS)"],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout
    assert out.strip() == "1"


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


def test_second_product_keeps_the_callers_numpy_error_state():
    huge = np.full((256, 256), 1e200)
    with np.errstate(all="raise"):
        with pytest.raises(FloatingPointError):
            both(lambda: None, lambda: huge @ huge, 1 << 30)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        _, out = both(lambda: None, lambda: huge @ huge, 1 << 30)   # no warning from the worker thread
    assert np.isinf(out).all()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_can_still_pair_products():
    script = ("import os, numpy as np\n"
              "from nnlab.engine.pairs import both\n"
              "a = np.ones((300, 300))\n"
              "both(lambda: a @ a, lambda: a @ a, 1 << 30)\n"
              "pid = os.fork()\n"
              "if pid == 0:\n"
              "    x, y = both(lambda: a @ a, lambda: a @ a, 1 << 30)\n"
              "    os._exit(0 if x[0, 0] == y[0, 0] == 300 else 1)\n"
              "print(os.waitpid(pid, 0)[1])\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "0"
