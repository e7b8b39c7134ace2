"""``nnlab explain`` on shape(…), size(…) and params: the formula with the numbers."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


def test_explain_a_conv_output_shape_both_conventions():
    out = run_cli("explain", str(SCENARIOS / "conv-output-shape-quiz.yaml"), "shape(Y_lecture)")
    assert out.returncode == 0
    assert "⌊(9 − 3 + 2 + 2)/2⌋ = 5" in out.stdout and "⌊(13 − 3 + 2 + 2)/2⌋ = 7" in out.stdout
    assert "shape(Y_lecture) = [5, 7]" in out.stdout
    torch = run_cli("explain", str(SCENARIOS / "conv-output-shape-quiz.yaml"), "size(Y_torch)").stdout
    assert "⌊(9 + 2·2 − 3)/2⌋ + 1 = 6" in torch and "size(Y_torch) = 6 · 8 = 48" in torch


def test_explain_params():
    out = run_cli("explain", str(SCENARIOS / "mlp-param-count.yaml"), "params").stdout
    assert "params = 1024·2 + 1024 + 512·1024 + 512 + 3·512 + 3 = 529411" in out
    alex = run_cli("explain", str(SCENARIOS / "conv-alexnet-params.yaml"), "params").stdout
    assert "96·3·11·11 + 96 = 34944" in alex


def test_explain_unknown_names_and_no_learn():
    out = run_cli("explain", str(SCENARIOS / "mlp-2layer-backprop.yaml"), "shape(zz)")
    assert out.returncode == 2 and "did you mean" in out.stderr + out.stdout
    assert run_cli("explain", str(SCENARIOS / "conv-output-shape-quiz.yaml"), "params").returncode == 2
