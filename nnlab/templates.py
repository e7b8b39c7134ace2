"""Starter scenarios for ``nnlab new TOPIC``: commented, and each runs and checks as is."""

from __future__ import annotations

MODELINE = "# yaml-language-server: $schema=https://nnlab.dev/schema/scenario-v1.json\n"

TEMPLATES: dict[str, str] = {
    "perceptron": """\
nnlab: 1
title: My perceptron — one forward pass
topic: perceptron
about: |
  A perceptron outputs step(w·x + b), with step(z) = 1 if z > 0 else 0.
  Change x, w or b and press r in the lab (or re-run `nnlab check`).
values:
  x: [1, 0]          # the input
  w: [0.5, -0.5]     # weights
  b: -0.2            # bias
compute:
  - z = w @ x + b    # weighted sum
  - yhat = step(z)   # the lecture's σ: 1 if z > 0 else 0
expect:              # your hand answers (numbers are matched to the digits you write)
  z: 0.3
  yhat: 1
""",
    "backprop": """\
nnlab: 1
title: My backprop walk — one sigmoid neuron with BCE
topic: backprop
about: |
  Forward: z = w·x + b, ŷ = σ(z), ℓ = BCE(ŷ, y). Backward: ∂ℓ/∂z collapses to ŷ − y.
values:
  x: [1.0, 2.0]
  w: [0.5, -0.25]
  b: 0.0
  y: 1
compute:
  - z = w @ x + b
  - yhat = sigmoid(z)
  - loss = bce(yhat, y)
backward: loss            # take gradients of this node
expect:
  z: 0
  yhat: 0.5
  grad(z): -0.5           # ŷ − y
  grad(w): [-0.5, -1.0]   # (ŷ − y)·x
""",
    "conv": """\
nnlab: 1
title: My convolution
topic: convolution
about: |
  conv2d is cross-correlation (no kernel flip). padding= adds zeros on each side
  (PyTorch); padding_total= is the lecture's total p_h.
values:
  X: [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
  K: [[0, 1], [2, 3]]
compute:
  - Y = conv2d(X, K, stride=1, padding=0)
expect:
  Y: [[19, 25], [37, 43]]
  shape(Y): [2, 2]
""",
    "pool": """\
nnlab: 1
title: My pooling
topic: pooling
about: Max pooling keeps the largest value of each window; average pooling its mean.
values:
  X: [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
compute:
  - M = maxpool2d(X, 2, stride=1)
  - A = avgpool2d(X, 2, stride=1)
expect:
  M: [[4, 5], [7, 8]]
  A: [[2, 3], [5, 6]]
""",
    "attention": """\
nnlab: 1
title: My attention weights
topic: attention
about: |
  C = attention(Q, K, V) makes C.scores = QKᵀ/√d, C.weights = softmax over keys, and C.
values:
  Q: [[1, 0], [0, 1]]
  K: [[1, 0], [0, 1]]
  V: [[1, 2], [3, 4]]
compute:
  - C = attention(Q, K, V)
expect:
  C.scores: [[0.7071, 0], [0, 0.7071]]
  C.weights[0, 0]: 0.6698
  sum(C.weights[0]): 1
""",
    "gru": """\
nnlab: 1
title: My GRU step
topic: rnn
about: |
  variant='reset_after' is PyTorch's GRUCell; 'reset_before' is Cho 2014 / d2l.
  Missing biases count as 0.
values:
  x: [1.0]
  h0: [0.0]
  P:
    W_ir: [[1.0]]
    W_hr: [[1.0]]
    W_iz: [[0.0]]
    W_hz: [[0.0]]
    W_in: [[1.0]]
    W_hn: [[1.0]]
compute:
  - h1 = gru_cell(x, h0, P, variant='reset_after')
expect:
  h1.z: 0.5          # σ(0)
  h1.n: 0.7616       # tanh(1)
  h1: 0.3808         # z·h0 + (1 − z)·n
""",
    "rnn": """\
nnlab: 1
title: My RNN over two steps
topic: rnn
values:
  x1: [1.0]
  x2: [0.0]
  h0: [0.0]
  W_xh: [[0.5]]
  W_hh: [[1.0]]
  b: [0.0]
compute:
  - h1 = rnn_cell(x1, h0, W_xh, W_hh, b)   # tanh(W_xh x + W_hh h + b)
  - h2 = rnn_cell(x2, h1, W_xh, W_hh, b)
expect:
  h1: 0.4621
  h2: 0.4318
""",
    "training": """\
nnlab: 1
title: My perceptron training (OR)
topic: perceptron
about: |
  The perceptron rule: w += η(y − ŷ)x, b += η(y − ŷ), one example at a time.
  It stops after the first epoch without a mistake.
values: {w: [0, 0], b: 0}
data:
  x: [[0, 0], [0, 1], [1, 0], [1, 1]]
  y: [0, 1, 1, 1]
learn: [w, b]
compute:
  - z = w @ x + b
  - yhat = step(z)
train: {rule: perceptron, predict: yhat, target: y, lr: 1, epochs: 20}
expect:
  train.converged: true
  yhat: [0, 1, 1, 1]
""",
}


def template(topic: str) -> str:
    """The starter scenario for ``topic`` (with the schema modeline)."""
    return MODELINE + TEMPLATES[topic]
