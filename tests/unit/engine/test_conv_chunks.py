"""conv's chunked im2col: the same gradients a few images at a time, and bounded chunks.

The columns of a batch are gathered :data:`nnlab.engine.ops.conv.CHUNK_BYTES` at a time;
a batch that fits is one product per pass (the batched benchmark's case), a huge one is
split. Both paths must give the same numbers: central differences in float64 with every
image in its own chunk, over strides whose padded size the stride does not divide (the
phase grid has cells past the edge) and channels-last layouts.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.engine.ops import conv
from nnlab.engine.ops.conv import Conv2d
from tests.unit.engine.gradcheck import check_op
from tests.unit.engine.test_conv_layouts import GRAD_CASES

RNG = np.random.default_rng(61)


@pytest.mark.parametrize("cls, xs, ks, bs, params", GRAD_CASES)
def test_gradcheck_one_image_per_chunk(monkeypatch, cls, xs, ks, bs, params):
    monkeypatch.setattr(conv, "CHUNK_BYTES", 1)
    b = None if bs is None else RNG.normal(size=(1, *bs))
    check_op(cls, [RNG.normal(size=(3, *xs)), RNG.normal(size=(1, *ks)), b], batched=True, **params)


@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 0), ([3, 2], [[2, 0], [1, 1]])])
def test_chunks_and_one_product_agree(monkeypatch, stride, padding):
    """Chunks of 1, 2 and all images: the same Y and gradients (to rounding), also with
    only ∂X or only ∂K asked for, and twice in a row."""
    x, k, b = RNG.normal(size=(1, 5, 2, 9, 8)), RNG.normal(size=(1, 3, 2, 3, 2)), RNG.normal(size=(1, 3))
    found = []
    for chunk_bytes in (1, 2 * Conv2d()._layout(x.shape[1:], k.shape[1:], (3,)).column_bytes, 1 << 30):
        monkeypatch.setattr(conv, "CHUNK_BYTES", chunk_bytes)
        op = Conv2d(stride=stride, padding=padding)
        y = op.forward(x, k, b)
        g = np.random.default_rng(0).normal(size=y.shape)
        both = op.backward(g)
        op.needs = (True, False, False)
        only_x = op.backward(g)[0]
        op.needs = (False, True, True)
        only_k = op.backward(g)[1]
        np.testing.assert_array_equal(only_x, both[0])
        np.testing.assert_allclose(only_k, both[1], rtol=1e-12, atol=1e-12)
        found.append((y, *both))
    for other in found[1:]:
        for a, c in zip(found[0], other):
            np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


def test_a_batch_that_fits_is_one_chunk_and_a_huge_one_is_bounded():
    lay = Conv2d(padding=1)._layout((8, 3, 64, 64), (16, 3, 3, 3), (16,))
    assert lay.chunk(8) == 8                                  # the batched benchmark: one product per pass
    huge = lay.chunk(100_000)
    assert 1 < huge < 100_000 and huge * lay.column_bytes <= conv.CHUNK_BYTES
    big = Conv2d(stride=4)._layout((3, 227, 227), (96, 3, 11, 11), (96,))
    assert big.column_bytes > conv.CHUNK_BYTES // 2 and big.chunk(4) >= 1
