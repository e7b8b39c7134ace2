"""Review of the training cache (nnlab/engine/train_cache.py): ways a training read back could
differ from the training computed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from nnlab.engine import train_cache
from nnlab.scenario import load, loads
from nnlab.session import open_session
from tests.unit.engine.test_train_cache import MLP

ROOT = Path(__file__).resolve().parents[3]
XOR = ROOT / "scenarios" / "train-mlp-xor-gd.yaml"


def checked(path: Path) -> str:
    session = open_session(str(path))
    return json.dumps([i.as_json() for i in session.check().items], default=str)


def body_offsets(whole: bytes) -> dict[str, int]:
    """Where each array of an entry starts (from its header)."""
    end = whole.index(b"\n\n") + 2
    out, offset = {}, end
    for line in whole[:end].decode().split("\n")[3:-2]:  # (after the format, key and digest lines)
        name, _, _, nbytes = line.split(" ")
        out[name] = offset
        offset += int(nbytes)
    return out


def computed_and_entry(cache: Path) -> tuple[str, Path, bytes]:
    os.environ["NNLAB_CACHE"] = "0"
    want = checked(XOR)
    os.environ["NNLAB_CACHE"] = "1"
    assert checked(XOR) == want                                   # written
    (entry,) = cache.glob("*.train")
    return want, entry, entry.read_bytes()


def test_an_entry_whose_arrays_are_zeroed_is_trained_again(cache):
    """A file whose header made it to the disk but whose data did not (a crash after the rename: the
    entry is written without fsync) reads as zeros of the right length. It must be a miss, not a crash:
    now interval 0 reaches ``-(-count // interval)`` in restore_training (ZeroDivisionError)."""
    want, entry, whole = computed_and_entry(cache)
    end = whole.index(b"\n\n") + 2
    entry.write_bytes(whole[:end] + bytes(len(whole) - end))
    assert checked(XOR) == want


def test_an_entry_with_a_changed_number_is_not_read_back(cache):
    """One damaged byte in an entry's numbers (the sign of the final W1[0, 0]) keeps its structure,
    so read_entry and restore_training accept it and check shows numbers no training made. Entries
    carry nothing (a digest of the body) to tell a damaged one from a good one."""
    want, entry, whole = computed_and_entry(cache)
    damaged = bytearray(whole)
    damaged[body_offsets(whole)["last"] + 7] ^= 0x80            # little-endian float64: byte 7 holds the sign
    entry.write_bytes(bytes(damaged))
    assert checked(XOR) == want


def test_values_changed_after_loading_change_the_key(cache):
    """training_key keys on what the trainer reads from the Scenario object (a caller may have
    changed it after loading, as validate changes ``train``) but of ``values`` and ``data`` only
    the names: start weights or data given through dataclasses.replace read back the training
    of the weights in the file."""
    from nnlab.engine.train_cache import cached_train

    s = load(XOR)
    w = s.values["W1"]
    other = s._replace(values={**s.values, "W1": w._replace(array=-w.array, exact=None)})
    assert train_cache.training_key(other) != train_cache.training_key(s)
    y = s.data["y"]
    flipped = s._replace(data={**s.data, "y": y._replace(array=1 - y.array, exact=None)})
    assert train_cache.training_key(flipped) != train_cache.training_key(s)
    cached_train(s)
    start = cached_train(other).snapshots[0]["W1"]
    assert np.array_equal(start.reshape(-1), -w.array.reshape(-1))




def test_the_final_parameters_read_back_compute_the_same_bits(cache):
    """read_entry makes every array with np.frombuffer at the offset the header ends on (here 5 mod 8),
    so the final parameters (snapshots[-1], views of the "last" array) are unaligned float64, and NumPy's
    matmul does not take the BLAS path for them (``x @ W.T``): the final run, which check and the lab
    show, differs in the last bits from the run of the training computed."""
    from nnlab.session import session_from_scenario

    cold = session_from_scenario(loads(MLP, "mlp.yaml"))
    assert len(list(cache.glob("*.train"))) == 1
    warm = session_from_scenario(loads(MLP, "mlp.yaml"))
    for ref in ("o", "loss", "grad(W1)", "grad(W2)", "grad(b1)"):
        a, b = np.asarray(cold.evaluate(ref)), np.asarray(warm.evaluate(ref))
        assert a.tobytes() == b.tobytes(), ref
