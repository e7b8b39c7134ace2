"""The exercise topics of ``nnlab practice``: one function per topic, drawing pleasant numbers.

Each topic turns a seeded ``random.Random`` into a :class:`Draft` — the scenario's
sections and the question in words, the way the lecture's Break & Quiz items are
written. A draft is only a proposal: :func:`nnlab.practice.generate` runs it and
throws it away (drawing again) when :attr:`Draft.degenerate` says the numbers make a
poor exercise — an all-zero gradient, a perceptron already right, a tie in a pooling
window, an asked value of exactly 0.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Values = dict[str, Any]


@dataclass(frozen=True)
class Draft:
    """One proposed exercise.

    Attributes:
        title: A title that does not give the answer away.
        question: The question in words (Markdown, becomes ``about:``).
        values: The given tensors (``values:``), in the order they are written.
        compute: The equations.
        asked: The references the student must answer, in order.
        data: A ``data:`` batch, if any.
        learn: The learnable parameters, if any.
        train: The ``train:`` settings, if any.
        backward: The ``backward:`` target, if any.
        degenerate: Given the session, whether these numbers make a poor exercise.
        mcq: The scalar reference multiple-choice options are made for (default: the first asked).
    """

    title: str
    question: str
    values: Values
    compute: tuple[str, ...]
    asked: tuple[str, ...]
    data: Values = field(default_factory=dict)
    learn: tuple[str, ...] = ()
    train: Values = field(default_factory=dict)
    backward: str | None = None
    degenerate: Callable[[Any], bool] = lambda session: False
    mcq: str | None = None


# -- pleasant numbers ---------------------------------------------------------------------------

def _tenths(rng: random.Random, lo: float, hi: float, nonzero: bool = True) -> float:
    """A multiple of 0.1 in [lo, hi] (0 excluded unless asked)."""
    choices = [k / 10 for k in range(round(lo * 10), round(hi * 10) + 1) if k or not nonzero]
    return rng.choice(choices)


def _halves(rng: random.Random, lo: float, hi: float, nonzero: bool = True) -> float:
    choices = [k / 2 for k in range(round(lo * 2), round(hi * 2) + 1) if k or not nonzero]
    value = rng.choice(choices)
    return int(value) if value == int(value) else value


def _matrix(rng: random.Random, rows: int, cols: int, draw: Callable[[], Any]) -> list[list[Any]]:
    return [[draw() for _ in range(cols)] for _ in range(rows)]


def _vector(n: int, draw: Callable[[], Any]) -> list[Any]:
    return [draw() for _ in range(n)]


def _tiny(value: Any) -> bool:
    """Whether any element of a value is (nearly) 0 — a poor thing to ask for."""
    import numpy as np

    return bool(np.any(np.abs(np.asarray(value, dtype=float)) < 5e-4))


def _asked_tiny(session: Any, *refs: str) -> bool:
    return any(_tiny(session.evaluate(ref)) for ref in refs)


def _vec(v: list[Any]) -> str:
    return "(" + ", ".join(str(x) for x in v) + ")"


# -- the topics ---------------------------------------------------------------------------------

_BOOLEAN = {  # every linearly separable function of two bits that is not constant or a copy of an input
    "AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "NAND": [1, 1, 1, 0], "NOR": [1, 0, 0, 0],
    "x₁ AND NOT x₂": [0, 0, 1, 0], "NOT x₁ AND x₂": [0, 1, 0, 0],
    "x₁ OR NOT x₂": [1, 0, 1, 1], "NOT x₁ OR x₂": [1, 1, 0, 1],
}


def perceptron(rng: random.Random) -> Draft:
    """The perceptron learning rule on a two-input Boolean function."""
    name = rng.choice(sorted(_BOOLEAN))
    w = [_halves(rng, -1, 1, nonzero=False) for _ in range(2)]
    b = _halves(rng, -1, 1, nonzero=False)
    lr = rng.choice([1, 1, 0.5, 0.25])
    question = (
        f"A perceptron ŷ = step(w·x + b), with step(0) = 0, starts at w = {_vec(w)}, b = {b} and learns "
        f"**{name}** with the perceptron rule w ← w + η(y − ŷ)x, b ← b + η(y − ŷ), η = {lr}. Each epoch "
        "visits the examples in the order x = 00, 01, 10, 11.\n\n"
        "1. What are w and b after the first epoch?\n"
        "2. In which epoch does the perceptron first make no mistake?")

    def degenerate(s: Any) -> bool:
        facts = s.evaluate("train.mistakes")
        return (not s.evaluate("train.converged") or int(facts[0]) == 0
                or int(s.evaluate("train.first_clean_epoch")) < 3)

    return Draft(
        title=f"Practice: the perceptron rule learns {name}", question=question,
        values={"w": w, "b": b}, data={"x": [[0, 0], [0, 1], [1, 0], [1, 1]], "y": _BOOLEAN[name]},
        learn=("w", "b"), compute=("z = w @ x + b", "yhat = step(z)"),
        train={"rule": "perceptron", "predict": "yhat", "target": "y", "lr": lr, "epochs": 30},
        asked=("epoch(1).w", "epoch(1).b", "train.first_clean_epoch"), degenerate=degenerate,
        mcq="train.first_clean_epoch")


def params(rng: random.Random) -> Draft:
    """The parameter count of an MLP or of a convolution layer."""
    if rng.random() < 0.5:
        sizes = [rng.choice([2, 3, 4, 8, 10, 16, 20, 64, 100, 784])]
        sizes += [rng.choice([3, 4, 5, 8, 10, 16, 32, 64, 100, 128, 256]) for _ in range(rng.choice([1, 2]))]
        sizes.append(rng.choice([1, 2, 3, 10]))
        values: Values = {"x": {"shape": [sizes[0]], "init": "zeros"}}
        compute, prev = [], "x"
        for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]), start=1):
            values[f"W{k}"] = {"shape": [n_out, n_in], "init": "zeros"}
            values[f"b{k}"] = {"shape": [n_out], "init": "zeros"}
            compute.append(f"a{k} = relu(W{k} @ {prev} + b{k})")
            prev = f"a{k}"
        arch = "-".join(str(n) for n in sizes)
        question = (f"A fully connected network has layer sizes {arch} (inputs, then each layer's units), "
                    "every unit with a weight per input and one bias. How many parameters does it have?")
        learn = tuple(k for k in values if k != "x")
        return Draft(title=f"Practice: parameters of a {arch} network", question=question, values=values,
                     compute=tuple(compute), learn=learn, asked=("params",))
    c, f, k = rng.choice([1, 2, 3, 3, 6, 8, 16]), rng.choice([4, 5, 6, 8, 10, 12, 16, 20, 32, 64]), rng.choice([1, 3, 5, 7])
    h = rng.choice([28, 32, 64, 96, 224])
    question = (f"A convolution layer takes a {c}×{h}×{h} input (channels × height × width) and has {f} "
                f"filters of size {k}×{k}, each with one bias. How many parameters does it have? "
                "(Does the input size matter?)")
    return Draft(title=f"Practice: parameters of a convolution layer ({f} filters)", question=question,
                 values={"X": {"shape": [c, h, h], "init": "zeros"},
                         "K": {"shape": [f, c, k, k], "init": "zeros"}, "b": {"shape": [f], "init": "zeros"}},
                 compute=("Y = conv2d(X, K, b)",), learn=("K", "b"), asked=("params",))


def _mlp_values(rng: random.Random) -> Values:
    return {"x": _vector(2, lambda: _halves(rng, -2, 2)),
            "W1": _matrix(rng, 2, 2, lambda: _tenths(rng, -1, 1)),
            "b1": _vector(2, lambda: _tenths(rng, -0.5, 0.5, nonzero=False)),
            "w2": _vector(2, lambda: _tenths(rng, -1, 1)),
            "b2": _tenths(rng, -0.5, 0.5, nonzero=False)}


def forward(rng: random.Random) -> Draft:
    """The output of a 2-2-1 network."""
    act = rng.choice(["sigmoid", "relu", "tanh"])
    v = _mlp_values(rng)
    question = (f"A 2-2-1 network computes a1 = {act}(W1 x + b1) and ŷ = σ(w2·a1 + b2), with x = {_vec(v['x'])}, "
                f"W1 = {v['W1']}, b1 = {_vec(v['b1'])}, w2 = {_vec(v['w2'])}, b2 = {v['b2']} "
                "(row i of W1 holds the weights into hidden unit i).\n\n1. What is a1?\n2. What is ŷ?")
    return Draft(title=f"Practice: forward pass of a 2-2-1 {act} network", question=question, values=v,
                 compute=("z1 = W1 @ x + b1", f"a1 = {act}(z1)", "z2 = w2 @ a1 + b2", "yhat = sigmoid(z2)"),
                 asked=("a1", "yhat"), degenerate=lambda s: _asked_tiny(s, "a1", "z2"), mcq="yhat")


def backprop(rng: random.Random) -> Draft:
    """A gradient element of a 2-2-1 sigmoid network with binary cross-entropy."""
    v = _mlp_values(rng) | {"y": rng.choice([0, 1])}
    i, j = rng.randrange(2), rng.randrange(2)
    question = (f"A 2-2-1 network: a1 = σ(W1 x + b1), ŷ = σ(w2·a1 + b2), loss ℓ = bce(ŷ, y), with x = {_vec(v['x'])}, "
                f"W1 = {v['W1']}, b1 = {_vec(v['b1'])}, w2 = {_vec(v['w2'])}, b2 = {v['b2']}, y = {v['y']}.\n\n"
                f"1. What is ∂ℓ/∂z2?\n2. What is ∂ℓ/∂w2[{i}]?\n3. What is ∂ℓ/∂W1[{i}, {j}]?")
    asked = ("grad(z2)", f"grad(w2)[{i}]", f"grad(W1)[{i}, {j}]")
    return Draft(title="Practice: backpropagation through a 2-2-1 network", question=question, values=v,
                 compute=("z1 = W1 @ x + b1", "a1 = sigmoid(z1)", "z2 = w2 @ a1 + b2", "yhat = sigmoid(z2)",
                          "loss = bce(yhat, y)"),
                 learn=("W1", "b1", "w2", "b2"), backward="loss", asked=asked,
                 degenerate=lambda s: _asked_tiny(s, *asked), mcq=asked[2])


def softmax_ce(rng: random.Random) -> Draft:
    """Softmax probabilities, the cross-entropy loss and its gradient for one example."""
    n = rng.choice([3, 3, 4])
    f = _vector(n, lambda: _halves(rng, -1, 2, nonzero=False))
    y = rng.randrange(n)
    question = (f"The scores (logits) of a {n}-class classifier are f = {_vec(f)}; the true class is {y} "
                "(classes counted from 0). With p = softmax(f) and ℓ = −log p[y]:\n\n"
                f"1. What is p?\n2. What is the loss ℓ?\n3. What is ∂ℓ/∂f?")
    return Draft(title=f"Practice: softmax and cross-entropy over {n} classes", question=question,
                 values={"f": f, "y": y}, compute=("p = softmax(f)", "loss = cross_entropy(f, y)"),
                 backward="loss", asked=("p", "loss", "grad(f)"),
                 degenerate=lambda s: len(set(f)) == 1, mcq="loss")


def conv_shape(rng: random.Random) -> Draft:
    """The output size of a convolution under stride and padding, either padding convention."""
    while True:
        h, w = rng.randrange(5, 33), rng.randrange(5, 33)
        k, s = rng.choice([2, 3, 3, 5]), rng.choice([1, 2, 2, 3])
        p = rng.choice([0, 1, 1, 2])
        if k <= min(h, w):
            break
    total = rng.random() < 0.5 and p > 0
    if total:
        padding, said = f"padding_total={2 * p}", f"{2 * p} zeros of padding in total ({p} on each side)"
    else:
        padding, said = f"padding={p}", (f"padding {p} (that many zeros on each side)" if p else "no padding")
    question = (f"A {k}×{k} kernel slides over a {h}×{w} input (rows × columns) with stride {s} and {said}. "
                "What is the output size (rows × columns)?")
    return Draft(title=f"Practice: output size of a {k}×{k} convolution, stride {s}", question=question,
                 values={"X": {"shape": [h, w], "init": "zeros"}, "K": {"shape": [k, k], "init": "ones"}},
                 compute=(f"Y = conv2d(X, K, stride={s}, {padding})",), asked=("shape(Y)",))


def conv(rng: random.Random) -> Draft:
    """A small convolution (cross-correlation, as in deep learning) by hand."""
    n, k = rng.choice([(4, 2), (4, 3), (5, 3), (5, 2)])
    stride = 2 if n == 5 and k == 3 and rng.random() < 0.5 else 1
    X = _matrix(rng, n, n, lambda: rng.randrange(0, 4))
    K = _matrix(rng, k, k, lambda: rng.choice([-1, 0, 1, 1, 2]))
    b = rng.choice([0, 0, 1, -1])
    out = (n - k) // stride + 1
    i, j = rng.randrange(out), rng.randrange(out)
    question = (f"Convolve (cross-correlate, no kernel flip) the {n}×{n} input X = {X} with the {k}×{k} kernel "
                f"K = {K}, stride {stride}, no padding, and add the bias b = {b}.\n\n"
                f"1. What is Y[{i}, {j}]?\n2. What is the whole output Y?")
    return Draft(title=f"Practice: a {k}×{k} convolution over a {n}×{n} input", question=question,
                 values={"X": X, "K": K, "b": b}, compute=(f"Y = conv2d(X, K, b, stride={stride})",),
                 asked=(f"Y[{i}, {j}]", "Y"), degenerate=lambda s: _asked_tiny(s, f"Y[{i}, {j}]"),
                 mcq=f"Y[{i}, {j}]")


def pool(rng: random.Random) -> Draft:
    """Max or average pooling of a 4×4 input with a 2×2 window."""
    kind = rng.choice(["maxpool2d", "avgpool2d"])
    X = [[0] * 4 for _ in range(4)]
    for r in (0, 2):  # distinct values in each window: no ties for the maximum
        for c in (0, 2):
            for (dr, dc), v in zip([(0, 0), (0, 1), (1, 0), (1, 1)], rng.sample(range(10), 4)):
                X[r + dr][c + dc] = v
    what = "max" if kind == "maxpool2d" else "average"
    question = (f"Apply {what} pooling with a 2×2 window and stride 2 to X = {X}. What is the output?")
    return Draft(title=f"Practice: {what} pooling of a 4×4 input", question=question, values={"X": X},
                 compute=(f"Y = {kind}(X, 2, stride=2)",), asked=("Y",), mcq="Y[0, 0]")


def rnn(rng: random.Random) -> Draft:
    """Two steps of a tanh RNN cell."""
    v = {"x1": _vector(2, lambda: _halves(rng, -1, 1)), "x2": _vector(2, lambda: _halves(rng, -1, 1)),
         "h0": [0, 0], "W_xh": _matrix(rng, 2, 2, lambda: _tenths(rng, -1, 1)),
         "W_hh": _matrix(rng, 2, 2, lambda: _tenths(rng, -1, 1)), "b": _vector(2, lambda: _tenths(rng, -0.5, 0.5))}
    question = (f"An RNN cell computes h_t = tanh(W_xh x_t + W_hh h_(t−1) + b) with W_xh = {v['W_xh']}, "
                f"W_hh = {v['W_hh']}, b = {_vec(v['b'])} and h0 = (0, 0). The inputs are x1 = {_vec(v['x1'])} "
                f"and x2 = {_vec(v['x2'])}.\n\n1. What is h1?\n2. What is h2?")
    return Draft(title="Practice: two steps of an RNN", question=question, values=v,
                 compute=("h1 = rnn_cell(x1, h0, W_xh, W_hh, b)", "h2 = rnn_cell(x2, h1, W_xh, W_hh, b)"),
                 asked=("h1", "h2"), degenerate=lambda s: _asked_tiny(s, "h1", "h2"), mcq="h2[0]")


def _gate_weights(rng: random.Random, names: list[str]) -> Values:
    return {n: _matrix(rng, 2, 2, lambda: _tenths(rng, -1, 1)) for n in names}


def gru(rng: random.Random) -> Draft:
    """One step of a GRU cell (PyTorch's form, reset applied after the hidden product)."""
    P = _gate_weights(rng, ["W_ir", "W_hr", "W_iz", "W_hz", "W_in", "W_hn"])
    v = {"x": _vector(2, lambda: _halves(rng, -1, 1)), "h": _vector(2, lambda: _tenths(rng, -0.8, 0.8)), "P": P}
    question = (f"A GRU cell (PyTorch's equations, no biases): r = σ(W_ir x + W_hr h), z = σ(W_iz x + W_hz h), "
                "n = tanh(W_in x + r ⊙ (W_hn h)), h′ = (1 − z) ⊙ n + z ⊙ h, with x = "
                f"{_vec(v['x'])}, h = {_vec(v['h'])} and\n\n"
                + "\n".join(f"- {k} = {m}" for k, m in P.items())
                + "\n\n1. What is the update gate z?\n2. What is the reset gate r?\n3. What is h′?")
    return Draft(title="Practice: one GRU step", question=question, values=v,
                 compute=("h1 = gru_cell(x, h, P)",), asked=("h1.z", "h1.r", "h1"),
                 degenerate=lambda s: _asked_tiny(s, "h1"), mcq="h1[0]")


def lstm(rng: random.Random) -> Draft:
    """One step of an LSTM cell (PyTorch's equations)."""
    P = _gate_weights(rng, ["W_ii", "W_hi", "W_if", "W_hf", "W_ig", "W_hg", "W_io", "W_ho"])
    v = {"x": _vector(2, lambda: _halves(rng, -1, 1)), "h": _vector(2, lambda: _tenths(rng, -0.8, 0.8)),
         "c": _vector(2, lambda: _tenths(rng, -1, 1)), "P": P}
    question = ("An LSTM cell (PyTorch's equations, no biases): i = σ(W_ii x + W_hi h), f = σ(W_if x + W_hf h), "
                "g = tanh(W_ig x + W_hg h), o = σ(W_io x + W_ho h), c′ = f ⊙ c + i ⊙ g, h′ = o ⊙ tanh(c′), "
                f"with x = {_vec(v['x'])}, h = {_vec(v['h'])}, c = {_vec(v['c'])} and\n\n"
                + "\n".join(f"- {k} = {m}" for k, m in P.items())
                + "\n\n1. What is the forget gate f?\n2. What is the new cell state c′?\n3. What is h′?")
    return Draft(title="Practice: one LSTM step", question=question, values=v,
                 compute=("S = lstm_cell(x, h, c, P)",), asked=("S.f", "S.c", "S"),
                 degenerate=lambda s: _asked_tiny(s, "S.c", "S"), mcq="S[0]")


def attention(rng: random.Random) -> Draft:
    """Scaled dot-product attention: a row of weights and of the output."""
    n, d = rng.choice([(2, 2), (3, 2)])
    Q = _matrix(rng, n, d, lambda: _halves(rng, -1, 2, nonzero=False))
    K = _matrix(rng, n, d, lambda: _halves(rng, -1, 2, nonzero=False))
    V = _matrix(rng, n, d, lambda: rng.randrange(-1, 4))
    row = rng.randrange(n)
    question = (f"Scaled dot-product attention softmax(Q Kᵀ / √d_k) V with Q = {Q}, K = {K}, V = {V} "
                f"(d_k = {d}; softmax over each row).\n\n"
                f"1. What are the attention weights of query {row} (row {row} of the weight matrix)?\n"
                f"2. What is row {row} of the output?")
    return Draft(title=f"Practice: attention over {n} positions", question=question,
                 values={"Q": Q, "K": K, "V": V}, compute=("C = attention(Q, K, V)",),
                 asked=(f"C.weights[{row}]", f"C[{row}]"),
                 degenerate=lambda s: len({round(float(w), 6) for w in s.evaluate(f"C.weights[{row}]")}) == 1
                 or _asked_tiny(s, f"C[{row}]"),
                 mcq=f"C.weights[{row}, 0]")


def gd_step(rng: random.Random) -> Draft:
    """One gradient-descent step (full batch or a minibatch) on a linear neuron with squared error."""
    m = rng.choice([2, 3, 4])
    batch = rng.choice(["full", 2]) if m > 2 else "full"
    x = _matrix(rng, m, 2, lambda: rng.randrange(-1, 3))
    y = _vector(m, lambda: rng.randrange(-1, 3))
    w, b = _vector(2, lambda: _halves(rng, -1, 1, nonzero=False)), _halves(rng, -1, 1, nonzero=False)
    lr = rng.choice([0.1, 0.1, 0.05, 0.2])
    which = "all the examples" if batch == "full" else "the first 2 examples (a minibatch of 2)"
    question = (f"A linear neuron ŷ = w·x + b with w = {_vec(w)}, b = {b} is trained with the mean squared error "
                f"(ŷ − y)² averaged over the examples of a batch, learning rate η = {lr}. The data are x = {x}, "
                f"y = {y}. One gradient-descent step on {which}: what are w and b after it?")
    return Draft(title="Practice: one gradient-descent step", question=question, values={"w": w, "b": b},
                 data={"x": x, "y": y}, learn=("w", "b"), compute=("yhat = w @ x + b", "loss = mse(yhat, y)"),
                 train={"rule": "gd", "loss": "loss", "lr": lr, "epochs": 1, "batch": batch},
                 asked=("update(1).w", "update(1).b"),
                 degenerate=lambda s: _tiny(s.evaluate("update(0).grad(w)")) or _tiny(s.evaluate("update(0).grad(b)")),
                 mcq="update(1).b")


TOPICS: dict[str, tuple[Callable[[random.Random], Draft], str]] = {
    "perceptron": (perceptron, "the perceptron rule: weights after the first epoch, the epoch it converges"),
    "params": (params, "the parameter count of an MLP or a convolution layer"),
    "forward": (forward, "a 2-2-1 network's hidden activations and output"),
    "backprop": (backprop, "gradient elements of a 2-2-1 sigmoid network with cross-entropy"),
    "softmax-ce": (softmax_ce, "softmax probabilities, the cross-entropy loss and its gradient"),
    "conv-shape": (conv_shape, "a convolution's output size under stride and padding (either convention)"),
    "conv": (conv, "an output element and the whole output of a small convolution"),
    "pool": (pool, "max or average pooling of a 4×4 input"),
    "rnn": (rnn, "two steps of a tanh RNN cell"),
    "gru": (gru, "one GRU step: the gates and the new hidden state"),
    "lstm": (lstm, "one LSTM step: the forget gate, the cell state and the hidden state"),
    "attention": (attention, "scaled dot-product attention: a row of weights and of the output"),
    "gd-step": (gd_step, "parameters after one (minibatch) gradient-descent step"),
}
"""Topic name → (its generator, one line saying what it asks)."""
