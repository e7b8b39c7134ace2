"""Naive loop conv2d and max pooling: the benchmark reference when torch is absent.

``benchmarks/engine.py`` compares nnlab with PyTorch; without torch it compares with
these functions instead, and nnlab must then win by at least 100×. They are the
classic "naive" implementations (as in CS231n's ``conv_forward_naive``): a Python
loop over every output element, NumPy only inside one window. They are not used
anywhere else.

``filters`` and ``rows`` compute only the first few filters / output rows (forward
and backward), so a large layer can be timed on a slice and scaled up: the work is
proportional to filters × rows.
"""

from __future__ import annotations

import numpy as np


def conv2d(x, k, b, stride, padding, g, filters=None, rows=None):
    """Forward and backward of one example's conv layer, one output element at a time.

    Args:
        x: ``(C, H, W)`` input.
        k: ``(F, C, kh, kw)`` kernels.
        b: ``(F,)`` biases.
        stride: ``(sh, sw)``.
        padding: ``(ph, pw)`` zeros on each side.
        g: ``(F, OH, OW)`` upstream gradient.
        filters: Compute only the first ``filters`` filters (default: all).
        rows: Compute only the first ``rows`` output rows (default: all).

    Returns:
        ``(y, gx, gk, gb)`` (only the computed part is filled in).
    """
    (sh, sw), (ph, pw) = stride, padding
    f_n, _, kh, kw = k.shape
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    oh, ow = (xp.shape[1] - kh) // sh + 1, (xp.shape[2] - kw) // sw + 1
    y, gxp = np.zeros((f_n, oh, ow)), np.zeros_like(xp)
    gk, gb = np.zeros_like(k), np.zeros(f_n)
    for f in range(f_n if filters is None else filters):
        for i in range(oh if rows is None else rows):
            for j in range(ow):
                window = xp[:, i * sh:i * sh + kh, j * sw:j * sw + kw]
                y[f, i, j] = np.sum(window * k[f]) + b[f]
                gk[f] += g[f, i, j] * window
                gxp[:, i * sh:i * sh + kh, j * sw:j * sw + kw] += g[f, i, j] * k[f]
                gb[f] += g[f, i, j]
    return y, gxp[:, ph:ph + x.shape[1], pw:pw + x.shape[2]], gk, gb


def maxpool2d(x, size, stride, g, rows=None):
    """Forward and backward of max pooling (no padding) on ``(C, H, W)``, by loops.

    Ties go to the first maximum in row-major order (``np.argmax``), as in nnlab.
    """
    (kh, kw), (sh, sw) = size, stride
    c_n, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    y, gx = np.zeros((c_n, oh, ow)), np.zeros_like(x)
    for c in range(c_n):
        for i in range(oh if rows is None else rows):
            for j in range(ow):
                window = x[c, i * sh:i * sh + kh, j * sw:j * sw + kw]
                a, b = np.unravel_index(np.argmax(window), window.shape)
                y[c, i, j] = window[a, b]
                gx[c, i * sh + a, j * sw + b] += g[c, i, j]
    return y, gx


def attention(q, k, v, g, rows):
    """Textbook loops for ``rows`` query rows of softmax(QKᵀ/√d)V, forward and the V/Q gradients."""
    import math

    t, d = q.shape
    for i in range(rows):
        scores = [sum(q[i, c] * k[j, c] for c in range(d)) / math.sqrt(d) for j in range(t)]
        m = max(scores)
        e = [math.exp(s - m) for s in scores]
        z = sum(e)
        p = [x / z for x in e]
        out = [sum(p[j] * v[j, c] for j in range(t)) for c in range(d)]
        gp = [sum(g[i, c] * v[j, c] for c in range(d)) for j in range(t)]
        dot = sum(p[j] * gp[j] for j in range(t))
        gs = [p[j] * (gp[j] - dot) / math.sqrt(d) for j in range(t)]
        _ = [sum(gs[j] * k[j, c] for j in range(t)) for c in range(d)], out
