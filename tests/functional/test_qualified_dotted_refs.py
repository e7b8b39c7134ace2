"""``update(k).D.mask``: a dotted node (a composite's part) of a training snapshot is a reference."""

from __future__ import annotations

import pytest

from nnlab.errors import NnlabError
from nnlab.scenario import loads
from nnlab.session import session_from_scenario

TRAINING = """nnlab: 1
title: dropout in a training
values: {w: [0.5], b: 0.1}
data:
  x: [[1], [0]]
  y: [1, 0]
learn: [w, b]
compute:
  - z = w @ x + b
  - D = dropout(z, 0.5, seed=1)
  - yhat = sigmoid(D)
  - loss = bce(yhat, y)
train: {rule: gd, loss: loss, lr: 0.1, epochs: 3, batch: 2}
expect:
  update(1).D.mask: [1, 1]
  epoch(2).D.mask: [1, 1]
  epoch(0).D: [1.2, 0.2]
"""


def test_a_dotted_node_of_an_update_is_checked():
    session = session_from_scenario(loads(TRAINING, "t.yaml"))
    report = session.check()
    assert [i.ref for i in report.items] == ["update(1).D.mask", "epoch(2).D.mask", "epoch(0).D"]
    assert all(i.ok for i in report.items), [(i.ref, i.actual, i.error) for i in report.items]


def test_a_dotted_name_that_is_not_a_node_is_named():
    text = TRAINING.replace("update(1).D.mask: [1, 1]", "update(1).D.maks: [1, 1]")
    report = session_from_scenario(loads(text, "t.yaml")).check()
    assert "'D.maks' is not a name in this scenario" in report.items[0].error


def test_private_attributes_are_still_refused():
    text = TRAINING.replace("update(1).D.mask: [1, 1]", "update(1).D.__class__: [1, 1]")
    with pytest.raises(NnlabError, match="unsupported syntax"):
        session_from_scenario(loads(text, "t.yaml")).check()
