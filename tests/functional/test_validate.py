"""nnlab validate: a file as run/check read it, a training by its first epoch (not trained to the end)."""

from __future__ import annotations

from pathlib import Path

from nnlab.cli import main

ROOT = Path(__file__).resolve().parents[2]
XOR = (ROOT / "scenarios" / "train-mlp-xor-gd.yaml").read_text()


def test_a_training_is_validated_by_its_first_epoch(tmp_path, capsys):
    f = tmp_path / "xor.yaml"
    f.write_text(XOR)
    assert main(["validate", str(f)]) == 0
    # one full-batch update: 5 forward + 5 backward steps and 4 parameter updates
    assert capsys.readouterr().out == f"{f}: OK (14 steps in epoch 1 of 2000; later epochs not run)\n"


def test_validate_reports_what_run_would_refuse(tmp_path, capsys):
    too_long = tmp_path / "long.yaml"
    too_long.write_text(XOR.replace("epochs: 2000", "epochs: 2000000"))
    bad_epochs = tmp_path / "epochs.yaml"
    bad_epochs.write_text(XOR.replace("epochs: 2000", "epochs: abc"))
    log0 = tmp_path / "log0.yaml"        # found only by computing: a domain error at the values written
    log0.write_text("nnlab: 1\ntitle: t\nvalues: {x: [1.0, 0.0]}\ncompute:\n  - y = log(x)\n")
    assert main(["validate", str(too_long), str(bad_epochs), str(log0)]) == 2
    err = capsys.readouterr().err
    assert "training would make up to 2,000,000 updates (2,000,000 epochs of 1), over the limit of 1,000,000" in err
    assert "train.epochs must be a positive whole number" in err
    assert "inf appears at step 1 (y = log(x)), element y[1]" in err
