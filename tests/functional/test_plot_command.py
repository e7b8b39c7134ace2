"""``nnlab plot FILE KIND``: the printed plot, read back as text."""

from __future__ import annotations

from nnlab.library import find
from nnlab.session import open_session
from tests.helpers import modules_loaded_by, run_cli


def test_loss_plot_prints_the_curve_and_why_training_stopped():
    p = run_cli("plot", str(find("train-perceptron-xor")), "loss", "--width", "60", "--height", "16")
    assert p.returncode == 0, p.stderr
    tr = open_session(str(find("train-perceptron-xor"))).training
    lines = p.stdout.splitlines()
    assert "mistakes per epoch" in p.stdout and "\x1b[" not in p.stdout          # piped: no colour
    assert f"stopped: cycle from epoch {tr.cycle_start}, length {tr.cycle_length}: it never converges" in lines
    assert f"▏ update {len(tr.records)}, epoch {tr.epochs}: mistakes {tr.mistakes[-1]}" in lines
    axis = next(line for line in lines if line.lstrip().startswith(f"{max(tr.mistakes)}.00┤"))
    assert axis  # the y axis reaches the largest number of mistakes


def test_boundary_plot_at_an_update_and_its_errors():
    p = run_cli("plot", str(find("train-perceptron-and")), "boundary", "--update", "24", "--width", "60")
    assert p.returncode == 0, p.stderr
    assert "decision regions after update 24" in p.stdout
    assert "after update 24 (epoch 6): 0 of 4 point(s) on the wrong side" in p.stdout
    assert "●" in p.stdout and "○" in p.stdout                                      # both classes drawn
    p = run_cli("plot", str(find("train-perceptron-and")), "boundary", "--update", "999")
    assert p.returncode == 2 and "--update 999: training made 24 update(s)" in p.stderr
    p = run_cli("plot", str(find("mlp-2layer-backprop")), "loss")
    assert p.returncode == 2 and "no 'loss' plot here" in p.stderr and "gradients" in p.stderr
    assert "Traceback" not in p.stderr


def test_attention_plot_is_a_grid_with_masked_cells_marked():
    p = run_cli("plot", str(find("attention-causal")), "attention")
    assert p.returncode == 0, p.stderr
    rows = [line for line in p.stdout.splitlines() if line.startswith("q ")]
    assert len(rows) == 3
    assert "█1.00" in rows[0] and rows[0].count("✕") == 2
    assert "0.41" in rows[1] and "0.59" in rows[1] and rows[1].count("✕") == 1
    assert "✕" not in rows[2] and "3 masked cell(s)" in p.stdout


def test_gradient_plot_names_every_layer():
    p = run_cli("plot", str(find("vanishing-gradients")), "gradients", "--width", "90")
    assert p.returncode == 0, p.stderr
    assert "h10 1  h9 0.25  h8 0.0625" in p.stdout                                  # 0.25ⁿ through sigmoid layers


def test_check_does_not_import_plotting():
    mods = modules_loaded_by("from nnlab.cli import main\n"
                             f"assert main(['check', {str(find('train-perceptron-and'))!r}]) == 0\n")
    assert "nnlab.check" in mods
    for heavy in ("plotext", "textual_plotext", "nnlab.render.plots"):
        assert not any(m == heavy or m.startswith(heavy + ".") for m in mods), heavy
