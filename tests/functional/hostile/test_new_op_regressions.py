"""Defects the hostile run of the newer ops found, each with the input that showed it."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.cli import main
from nnlab.session import open_session

DATA_MASK = ("nnlab: 1\ntitle: t\ndata:\n  M: {M}\nvalues:\n  Q: [[1, 0], [0, 1]]\n  K: [[1, 2], [3, 4]]\n"
             "compute:\n  - C = attention(Q, K, Q, mask=M)\n  - L = sum(C * C)\nbackward: L\n")


def test_a_data_mask_over_scores_that_do_not_depend_on_the_data(tmp_path):
    """One mask per example on values-only Q, K: 'nnlab failed on this input (ValueError: … broadcast …)'."""
    f = tmp_path / "m.yaml"
    f.write_text(DATA_MASK.replace("{M}", "[[[1, 0], [1, 1]], [[1, 1], [0, 1]]]"), encoding="utf-8")
    run = open_session(str(f)).run
    w = 1 / (1 + np.exp(-np.sqrt(2)))   # an unmasked row: scores (1, 3)/√2 or (2, 4)/√2, σ of their difference √2
    weights = np.asarray(run.values["C.weights"], dtype=float)
    assert weights.shape == (2, 2, 2)
    np.testing.assert_allclose(weights, [[[1, 0], [1 - w, w]], [[1 - w, w], [0, 1]]], rtol=1e-12)
    torch = pytest.importorskip("torch")
    Q = torch.tensor([[1.0, 0], [0, 1]], dtype=torch.float64)
    K = torch.tensor([[1.0, 2], [3, 4]], dtype=torch.float64, requires_grad=True)
    masks = torch.tensor([[[1, 0], [1, 1]], [[1, 1], [0, 1]]], dtype=torch.bool)
    loss = sum((torch.nn.functional.scaled_dot_product_attention(Q, K, Q, attn_mask=m) ** 2).sum() for m in masks)
    (loss / 2).backward()   # with data, the gradient is averaged over the examples
    np.testing.assert_allclose(np.asarray(run.grads["K"], dtype=float).reshape(2, 2), K.grad.numpy(), rtol=1e-12)


def test_a_data_mask_with_an_empty_row_is_a_located_error(tmp_path, capsys):
    f = tmp_path / "m.yaml"
    f.write_text(DATA_MASK.replace("{M}", "[[[1, 0], [0, 0]], [[1, 1], [1, 1]]]"), encoding="utf-8")
    assert main(["check", str(f)]) == 2
    err = capsys.readouterr().err
    assert "m.yaml:9:9: error: row [1] of the mask keeps no entry" in err
    assert "nnlab failed" not in err


def test_a_bias_that_broadcasts_a_product_is_explained_not_indexed_past_it(tmp_path, capsys):
    """``W (1,1) @ x (1,) + b (3,)`` (an LSTM bias of the wrong length): explaining element 1 or 2 indexed the
    1-element product (IndexError: 'nnlab failed on this input' in explain and export)."""
    f = tmp_path / "mm.yaml"
    f.write_text("nnlab: 1\ntitle: t\nvalues:\n  W: [[2]]\n  x: [3]\n  b: [1, 2, 3]\ncompute:\n  - y = W @ x + b\n",
                 encoding="utf-8")
    assert main(["explain", str(f), "y[2]"]) == 0
    assert "  y[2] = 9\n" in capsys.readouterr().out            # 2·3 + 3
    assert main(["export", str(f), "--to", "md"]) == 0
    out = capsys.readouterr().out
    assert "$$y[1] = 8$$" in out and "$$y[2] = 9$$" in out
