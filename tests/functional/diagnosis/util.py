"""Helpers for the diagnosis tests: a scenario with one answer, checked as ``nnlab check`` does."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from nnlab.scenario import loads
from nnlab.session import session_from_scenario

MLP = """
nnlab: 1
title: mlp
values:
  x: [0.5, 1.0]
  W1: [[0.1, 0.3], [-0.2, 0.4]]
  b1: [0.1, -0.1]
  w2: [0.5, -0.3]
  b2: 0.2
  y: 1
compute:
  - z1 = W1 @ x + b1
  - a1 = sigmoid(z1)
  - z2 = w2 @ a1 + b2
  - yhat = sigmoid(z2)
  - loss = bce(yhat, y)
backward: loss
"""
"""The lecture's 2-2-1 network (scenarios/mlp-2layer-backprop.yaml without its answers)."""


def gd(epochs: int) -> str:
    """A linear model trained by gradient descent on three examples for ``epochs`` epochs."""
    return f"""
nnlab: 1
title: gd
values: {{w: [0.5, -0.5], b: 0.1}}
data:
  x: [[1, 2], [0, 1], [2, 1]]
  y: [1, 0, 2]
learn: [w, b]
compute:
  - yhat = w @ x + b
  - loss = mse(yhat, y)
train: {{rule: gd, loss: loss, lr: 0.1, epochs: {epochs}}}
"""


def session(text: str):
    return session_from_scenario(loads(textwrap.dedent(text), "test.yaml"))


def value(text: str, ref: str) -> Any:
    """What the ordinary engine computes for ``ref`` (the oracle for a misreading)."""
    return np.asarray(session(text).evaluate(ref), dtype=float)


def answer_text(v: Any, digits: int = 6) -> str:
    """An answer as a student writes it, to ``digits`` decimals."""
    a = np.asarray(v, dtype=float)

    def one(x: float) -> str:
        return f"{x:.{digits}f}"

    def nested(x: Any) -> str:
        return "[" + ", ".join(nested(i) for i in x) + "]" if isinstance(x, list) else one(x)

    return nested(a.tolist())


def check(text: str, ref: str | None = None, answer: str | None = None):
    """The checked report (or, with ``ref``/``answer``, the one item answering ``ref``)."""
    text = textwrap.dedent(text)
    if ref is not None:
        key = ref if ref.isidentifier() else f"'{ref}'"
        text = text.rstrip() + f"\nexpect:\n  {key}: {answer}\n"
    report = session(text).check()
    return report.items[0] if ref is not None else report


def ids(item) -> list[str]:
    return [f.id for f in item.diagnosis]
