"""The training cache: a training read back is bitwise the training computed, and any change that
could alter it is a miss (nnlab/engine/train_cache.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnlab
from nnlab.engine import train_cache
from nnlab.engine.train import restore_training, train, training_state
from nnlab.scenario import load, loads
from nnlab.session import open_session

ROOT = Path(__file__).resolve().parents[3]
GD = sorted(p for p in (ROOT / "scenarios").glob("*.yaml") if "rule: gd" in p.read_text())


def same_training(a, b) -> None:
    """Every snapshot bitwise equal, and the same records, epoch ends and facts."""
    assert len(a.snapshots) == len(b.snapshots)
    for u in range(len(a.snapshots)):
        x, y = a.snapshots[u], b.snapshots[u]
        assert x.keys() == y.keys()
        for k in x:
            assert x[k].shape == y[k].shape and x[k].dtype == y[k].dtype
            assert np.array_equal(x[k], y[k]) and x[k].tobytes() == y[k].tobytes(), (u, k)
    assert list(a.records) == list(b.records)
    assert list(a.epoch_end) == list(b.epoch_end)
    assert a.facts() == b.facts()


def test_there_are_bundled_gd_trainings():
    assert len(GD) >= 4, GD


@pytest.mark.parametrize("path", GD, ids=lambda p: p.stem)
def test_restored_training_is_the_training(path):
    s = load(path)
    tr = train(s)
    state = training_state(tr)
    assert state is not None
    same_training(restore_training(s, state), tr)


def test_restored_checkpoints_replay_the_same_bits():
    """With a checkpoint every 7 updates the restored training replays the others bitwise."""
    s = load(ROOT / "scenarios" / "train-mlp-xor-gd.yaml")
    every = train(s, checkpoint_every=1)
    sparse = train(s, checkpoint_every=7)
    restored = restore_training(s, training_state(sparse))
    assert restored.snapshots.interval == 7 and restored.snapshots.checkpoints == -(-2001 // 7)
    same_training(restored, every)
    run_a, run_b = restored.update_run(1234), every.update_run(1234)
    assert np.array_equal(run_a.grad("W1"), run_b.grad("W1"))


def test_perceptron_and_exact_trainings_are_not_saved():
    tr = train(load(ROOT / "scenarios" / "train-perceptron-xor.yaml"))
    assert tr.config.rule == "perceptron" and training_state(tr) is None


@pytest.mark.parametrize("path", GD, ids=lambda p: p.stem)
def test_check_reads_the_same_answers_back(path, cache):
    """check --json: computed (cache off), written (cold) and read back (warm) are identical."""
    def checked():
        session = open_session(str(path))
        return json.dumps([i.as_json() for i in session.check().items], default=str)

    os.environ["NNLAB_CACHE"] = "0"
    off = checked()
    os.environ["NNLAB_CACHE"] = "1"
    cold = checked()
    assert len(list(cache.glob("*.train"))) == 1
    warm = checked()
    assert off == cold == warm


def test_a_warm_check_does_not_train(cache, monkeypatch):
    path = ROOT / "scenarios" / "train-mlp-xor-gd.yaml"
    first = open_session(str(path)).training
    monkeypatch.setattr(train_cache, "train", lambda s: pytest.fail("trained again"))
    second = open_session(str(path)).training
    same_training(second, first)


XOR = (ROOT / "scenarios" / "train-mlp-xor-gd.yaml").read_text()


def key(text: str) -> str:
    return train_cache.training_key(loads(text, "x.yaml"))


def test_answers_and_prose_do_not_change_the_key():
    base = key(XOR)
    assert key(XOR.replace("b2: 5.83", "b2: 5.9")) == base                  # an answer
    assert key(XOR.replace("title: A 2-2-1", "title: My 2-2-1")) == base    # the title
    assert key(XOR.replace("What one perceptron", "What a perceptron")) == base  # about


@pytest.mark.parametrize("old, new", [
    ("lr: 2,", "lr: 2.0,"),                                   # the same number written otherwise
    ("lr: 2,", "lr: 1.5,"),
    ("epochs: 2000", "epochs: 1999"),
    ("W1: [[0.5, -0.4]", "W1: [[0.5, -0.41]"),
    ("y: [0, 1, 1, 0]", "y: [0, 1, 1, 1]"),
    ("  - a1 = sigmoid(z1)", "  - a1 = tanh(z1)"),
    ("order: sequential}", "order: sequential, momentum: 0.5}"),
])
def test_what_changes_the_numbers_changes_the_key(old, new):
    assert old in XOR
    assert key(XOR.replace(old, new)) != key(XOR)


def test_a_scenario_changed_after_loading_is_a_miss():
    """validate trains one epoch of a replace()d scenario whose parsed tree still says 2000."""
    s = loads(XOR, "x.yaml")
    one = s._replace(train={**s.train, "epochs": 1})
    assert train_cache.training_key(one) != train_cache.training_key(s)
    assert train_cache.training_key(s._replace(equations=s.equations[:-1])) != train_cache.training_key(s)


def test_validate_after_a_warm_check(cache):
    """A cached 2,000-epoch training is not what validate's one epoch reads back."""
    from nnlab.cli import _validate, main

    path = str(ROOT / "scenarios" / "train-mlp-xor-gd.yaml")
    assert open_session(path).training.epochs == 2000
    assert len(list(cache.glob("*.train"))) == 1

    session, _ = _validate(path, 10**7)
    assert session.training.epochs == 1 and len(session.training.records) == 1
    assert main(["validate", path]) == 0


def test_a_changed_nnlab_is_a_miss(tmp_path, monkeypatch):
    """The key covers the size and time of every source file of the package."""
    (tmp_path / "engine").mkdir()
    src = tmp_path / "engine" / "run.py"
    src.write_text("x = 1\n")
    monkeypatch.setattr(nnlab, "__path__", [str(tmp_path)])
    monkeypatch.setattr(train_cache, "_ENVIRONMENT", None)
    before = key(XOR)
    src.write_text("x = 2  # edited\n")
    monkeypatch.setattr(train_cache, "_ENVIRONMENT", None)
    assert key(XOR) != before


def test_damaged_entries_are_trained_again(cache):
    path = ROOT / "scenarios" / "train-gd-step.yaml"
    want = open_session(str(path)).check().items
    (entry,) = cache.glob("*.train")
    whole = entry.read_bytes()
    k = entry.stem
    assert train_cache.read_entry(str(entry), k) is not None
    assert train_cache.read_entry(str(entry), "0" * 40) is None              # another key
    for damaged in (whole[:-1], whole[:40], b"", whole.replace(b" f8 ", b" f4 ", 1), whole + b"x"):
        entry.write_bytes(damaged)
        assert train_cache.read_entry(str(entry), k) is None
        assert [i.as_json() for i in open_session(str(path)).check().items] == [i.as_json() for i in want]
        assert entry.read_bytes() == whole                                  # written again


def test_an_unwritable_cache_only_trains(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("NNLAB_CACHE", "1")
    monkeypatch.setenv("NNLAB_CACHE_DIR", str(blocked / "cache"))
    monkeypatch.setattr(train_cache, "WORTH_MS", 0.0)
    session = open_session(str(ROOT / "scenarios" / "train-gd-step.yaml"))
    assert session.check().ok
    assert list(tmp_path.iterdir()) == [blocked]


def test_off_switch_and_default_folder(monkeypatch):
    monkeypatch.setenv("NNLAB_CACHE", "0")
    assert train_cache.cache_dir() is None
    monkeypatch.setenv("NNLAB_CACHE", "1")
    monkeypatch.delenv("NNLAB_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere")
    assert train_cache.cache_dir() == os.path.join("/somewhere", "nnlab", "trainings")


def test_old_entries_are_pruned(cache, monkeypatch):
    monkeypatch.setattr(train_cache, "MAX_ENTRIES", 3)
    state = {"a": np.arange(3.0)}
    for i in range(5):
        assert train_cache.write_entry(str(cache), str(cache / f"{i:040x}.train"), f"{i:040x}", state)
        os.utime(cache / f"{i:040x}.train", ns=(i * 10**9, i * 10**9))
    (cache / "mine.train").write_text("not an entry")
    os.utime(cache / "mine.train", ns=(0, 0))
    old_tmp = cache / f"{0:040x}.train.12.34.tmp"
    old_tmp.write_bytes(b"half")
    os.utime(old_tmp, ns=(0, 0))
    new_tmp = cache / f"{1:040x}.train.12.35.tmp"  # (being written now)
    new_tmp.write_bytes(b"half")
    train_cache._prune(str(cache))
    assert sorted(p.stem[-1] for p in cache.glob("*.train")) == ["2", "3", "4", "e"]  # (mine.train stays)
    assert list(cache.glob("*.tmp")) == [new_tmp]
    monkeypatch.setattr(train_cache, "MAX_TOTAL", 2 * (cache / f"{4:040x}.train").stat().st_size)
    train_cache._prune(str(cache))
    assert sorted(p.stem[-1] for p in cache.glob("*.train")) == ["3", "4", "e"]


def test_cli_check_twice_prints_the_same(tmp_path):
    env = {**os.environ, "NNLAB_CACHE": "1", "NNLAB_CACHE_DIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "nnlab", "check", "--json", str(ROOT / "scenarios" / "train-mlp-xor-gd.yaml")]
    cold = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert len(list(tmp_path.glob("*.train"))) == 1                        # 2,000 epochs take over 20 ms
    warm = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    off = subprocess.run(cmd, capture_output=True, text=True, env={**env, "NNLAB_CACHE": "0"}, cwd=ROOT,
                         check=False)
    assert cold.returncode == warm.returncode == off.returncode == 0
    assert cold.stdout == warm.stdout == off.stdout
    assert json.loads(warm.stdout)[0]["actual"] == 2000


MLP = """nnlab: 1
title: a 33-16-5 network, shuffled minibatches
values:
  W1: {shape: [16, 33], init: normal, seed: 1, scale: 0.1}
  b1: {shape: [16], init: zeros}
  W2: {shape: [5, 16], init: normal, seed: 2, scale: 0.1}
  b2: {shape: [5], init: zeros}
data:
  x: {shape: [40, 33], init: normal, seed: 3}
  y: {shape: [40, 5], init: uniform, seed: 4}
learn: [W1, b1, W2, b2]
compute:
  - h = tanh(W1 @ x + b1)
  - o = W2 @ h + b2
  - loss = mse(o, y)
train: {rule: gd, loss: loss, lr: 0.05, epochs: 4, batch: 8, order: shuffle, seed: 3}
"""


@pytest.mark.parametrize("every", [1, 3])
def test_updates_written_into_snapshot_rows_are_the_plain_updates(every, monkeypatch):
    """Training writes each update into its snapshot row (views at any 8-byte offset); the same
    training with every update made as separate arrays (and the replay) gives the same bits."""
    from nnlab.engine.train import Snapshots

    s = loads(MLP, "mlp.yaml")
    flat = train(s, checkpoint_every=every)
    assert flat.snapshots._rows > 1  # the rows are used
    monkeypatch.setattr(Snapshots, "slot", lambda self: None)
    plain = train(s, checkpoint_every=1)
    same_training(flat, plain)
