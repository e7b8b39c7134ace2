"""What a process pays the first time: the engine's record classes and locks made without
typing.NamedTuple or threading, and the same behaviour as those gave."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest

from nnlab.engine import train_cache
from nnlab.engine.ops.conv import _Layout, make_window
from nnlab.engine.train import Snapshots, TrainConfig, UpdateRecord


def test_train_config_fields_defaults_and_replace():
    cfg = TrainConfig("gd", 0.5, 3, "shuffle", 7, None, "p", "y", "L", None)
    assert cfg._fields == ("rule", "lr", "epochs", "order", "seed", "batch", "predict", "target", "loss", "z",
                           "momentum", "weight_decay", "update")
    assert (cfg.momentum, cfg.weight_decay, cfg.update) == (0, 0, "error")
    moved = cfg._replace(epochs=1)
    assert type(moved) is TrainConfig and moved.epochs == 1 and moved[:2] == ("gd", 0.5)
    assert moved == ("gd", 0.5, 1, "shuffle", 7, None, "p", "y", "L", None, 0, 0, "error")
    assert repr(cfg).startswith("TrainConfig(rule='gd', lr=0.5, epochs=3,")
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    with pytest.raises(AttributeError):  # a record, not an object with a __dict__
        cfg.extra = 1


def test_update_record_defaults_and_equality():
    rec = UpdateRecord(2, 5, (0, 1), True)
    assert (rec.error, rec.loss) == (None, None)
    assert rec == UpdateRecord(2, 5, (0, 1), True, None, None) == (2, 5, (0, 1), True, None, None)
    assert UpdateRecord(1, 1, (0,), False, loss=0.25).loss == 0.25
    assert repr(rec) == "UpdateRecord(epoch=2, number=5, examples=(0, 1), changed=True, error=None, loss=None)"


def test_conv_layout_properties_read_its_fields():
    win = make_window("conv2d", "X (2, 5, 5) and K (4, 2, 3, 3)", (2, 5, 5), (3, 3), (1, 1), ((0, 0), (0, 0)))
    lay = _Layout((2, 5, 5), (4, 2, 3, 3), (4,), 2, False, None, True, True, True, 2, 4, win)
    assert (lay.images, lay.channels, lay.filters, lay.win) == (1, 2, 4, win)
    assert lay.out_shape == (4, 3, 3)
    assert lay._replace(batch=6).images == 6


def test_snapshot_lock_is_reentrant_like_threading_rlock():
    snaps = Snapshots({"w": np.zeros(2)}, interval=1)
    assert type(snaps._lock) is type(threading.RLock())
    with snaps._lock, snaps._lock:  # the lab's worker takes it again inside a held segment
        pass


def test_cache_temporary_name_carries_the_thread_id(tmp_path, monkeypatch):
    made = []
    real_open = open

    def spy(path, *args, **kwargs):
        made.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)
    key = "0" * 40
    path = str(tmp_path / f"{key}.train")
    assert train_cache.write_entry(str(tmp_path), path, key, {"w": np.zeros(2)})
    assert made[0] == f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"


def test_training_imports_no_threading():
    code = "import sys, nnlab.engine.train, nnlab.engine.train_cache; print('threading' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
