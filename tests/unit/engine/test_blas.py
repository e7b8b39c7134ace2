"""BLAS threads by size (nnlab.engine.blas): one thread for mid-sized products, the default for large ones."""

from __future__ import annotations

import numpy as np
import pytest

threadpoolctl = pytest.importorskip("threadpoolctl")

from nnlab.engine import blas  # noqa: E402
from nnlab.engine.ops.linalg import product  # noqa: E402


def _blas_threads() -> set[int]:
    return {info["num_threads"] for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"}


@pytest.fixture
def restored():
    yield
    blas.product_threads(blas.PARALLEL_MIN)  # back to the BLAS's default for the rest of the process


def test_a_mid_sized_product_runs_on_one_thread_and_a_large_one_on_the_default(restored):
    if not _blas_threads():
        pytest.skip("threadpoolctl finds no BLAS library here")
    x = np.random.default_rng(0).normal(size=(1, 160, 160))
    y = product(x, x)                                   # 160³ ≈ 4.1·10⁶ multiply-adds: one thread
    assert _blas_threads() == {1}
    assert np.allclose(y[0], x[0] @ x[0], rtol=1e-12, atol=0)
    blas.product_threads(blas.PARALLEL_MIN)             # a large product: the BLAS's own default again
    assert _blas_threads() == {blas._many}


def test_tiny_products_and_a_disabled_switch_leave_the_threads_alone(restored, monkeypatch):
    if not _blas_threads():
        pytest.skip("threadpoolctl finds no BLAS library here")
    blas.product_threads(blas.PARALLEL_MIN)
    before = _blas_threads()
    product(np.ones((1, 4, 4)), np.ones((1, 4, 4)))     # 64 multiply-adds: no call at all
    assert _blas_threads() == before
    monkeypatch.setattr(blas, "enabled", False)
    blas.product_threads(blas.SERIAL_MAX * 100)
    assert _blas_threads() == before
