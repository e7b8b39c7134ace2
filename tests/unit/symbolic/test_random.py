"""Randomized small graphs: sympy's gradients (and chains) equal backprop's.

Hypothesis composes elementwise, matrix-product and reduction ops over small random
tensors, writes them as a scenario (some sub-expressions on their own named lines,
some leaves used twice), runs it through the engine and compares.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlab.symbolic.chain import chain_for
from nnlab.symbolic.verify import verify_gradients
from tests.unit.symbolic.conftest import scenario_run

UNARY = ["sigmoid", "tanh", "relu", "abs", "-", "exp_small", "sq"]
BINARY = ["+", "-", "*", "/"]
NUM = st.integers(-20, 20).map(lambda k: k / 10)


class Builder:
    """Grows a random expression over vectors of length n, declaring leaves as it goes."""

    def __init__(self, draw, n: int) -> None:
        self.draw, self.n = draw, n
        self.values: dict[str, list] = {}
        self.lines: list[str] = []

    def leaf(self, shape: tuple[int, ...]) -> str:
        same = [k for k, v in self.values.items() if _shape(v) == shape]
        if same and self.draw(st.booleans()):
            return self.draw(st.sampled_from(same))  # reuse: several paths, gradients add up
        name = f"v{len(self.values)}"
        if shape == ():
            self.values[name] = self.draw(NUM)
        elif len(shape) == 1:
            self.values[name] = self.draw(st.lists(NUM, min_size=shape[0], max_size=shape[0]))
        else:
            self.values[name] = [self.draw(st.lists(NUM, min_size=shape[1], max_size=shape[1]))
                                 for _ in range(shape[0])]
        return name

    def vector(self, depth: int) -> str:
        n = self.n
        kind = self.draw(st.sampled_from(["leaf", "unary", "binary", "matmul", "softmax", "scalar"])
                         if depth > 0 else st.just("leaf"))
        if kind == "leaf":
            return self.leaf((n,))
        if kind == "unary":
            op = self.draw(st.sampled_from(UNARY))
            x = self.vector(depth - 1)
            expr = {"-": f"-({x})", "exp_small": f"exp(tanh({x}))", "sq": f"({x}) ** 2"}.get(op, f"{op}({x})")
        elif kind == "binary":
            op = self.draw(st.sampled_from(BINARY))
            a, b = self.vector(depth - 1), self.vector(depth - 1)
            if op == "/":
                b = f"(1 + sigmoid({b}))"
            expr = f"({a}) {op} ({b})"
        elif kind == "matmul":
            expr = f"{self.leaf((n, n))} @ ({self.vector(depth - 1)})"
        elif kind == "softmax":
            expr = f"softmax({self.vector(depth - 1)})"
        else:
            expr = f"({self.vector(depth - 1)}) * {self.leaf(())}"
        if self.draw(st.booleans()):  # give it its own named line
            name = f"t{len(self.lines)}"
            self.lines.append(f"{name} = {expr}")
            return name
        return f"({expr})"


def _shape(v) -> tuple[int, ...]:
    if isinstance(v, list):
        return (len(v),) + (_shape(v[0]) if v else ())
    return ()


@st.composite
def scenarios(draw):
    b = Builder(draw, draw(st.integers(1, 3)))
    body = b.vector(draw(st.integers(1, 3)))
    reduce = draw(st.sampled_from(["sum", "mean", "max", "mse", "bce_logits", "dot"]))
    if reduce in ("sum", "mean", "max"):
        loss = f"{reduce}({body})"
    elif reduce == "dot":
        loss = f"{b.leaf((b.n,))} @ ({body})"
    else:
        target = b.leaf((b.n,))
        if reduce == "bce_logits":  # labels must lie in [0, 1] (a located error otherwise)
            target = f"sigmoid({target})"
        loss = f"{reduce}({body}, {target})"
    b.lines.append(f"loss = {loss}")
    values = "\n".join(f"  {k}: {v}" for k, v in b.values.items())
    lines = "\n".join(f"  - {line}" for line in b.lines)
    return f"nnlab: 1\ntitle: random\nvalues:\n{values}\ncompute:\n{lines}\nbackward: loss\n"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.data())
def test_random_graphs_symbolic_equals_numeric(text, data):
    run = scenario_run(text)
    report = verify_gradients(run, method=data.draw(st.sampled_from(["diff", "reverse"])))
    assert report.qualified, (report.reason, text)
    assert not report.disagreements, (report.summary, text)
    name = data.draw(st.sampled_from(sorted(n for n, node in run.graph.nodes.items() if node.kind == "value")))
    shape = run.graph.nodes[name].shape
    index = tuple(data.draw(st.integers(0, s - 1)) for s in shape)
    ref = f"grad({name})" + (f"[{', '.join(map(str, index))}]" if index else "")
    chain = chain_for(run, ref)
    assert chain.agree, (ref, chain.total, chain.engine, text)


def _tensor(draw, shape):
    if not shape:
        return draw(NUM)
    return [_tensor(draw, shape[1:]) for _ in range(shape[0])]


@st.composite
def structured(draw):
    """One structured op (conv, pooling, reductions with axes, softmax, cross-entropy) in a loss."""
    kind = draw(st.sampled_from(["conv", "pool", "reduce", "softmax", "ce"]))
    values: dict = {}
    if kind == "conv":
        c, h, w = draw(st.integers(1, 2)), draw(st.integers(2, 4)), draw(st.integers(2, 4))
        kh, kw = draw(st.integers(1, h)), draw(st.integers(1, w))
        layout = draw(st.sampled_from(["2d", "3d", "4d"] if c > 1 else ["2d", "4d"]))
        f = draw(st.integers(1, 2)) if layout == "4d" else 1
        values["X"] = _tensor(draw, (c, h, w) if c > 1 or layout != "2d" else (h, w))
        values["K"] = _tensor(draw, {"2d": (kh, kw), "3d": (c, kh, kw), "4d": (f, c, kh, kw)}[layout])
        args = "X, K"
        if draw(st.booleans()):
            values["b"] = _tensor(draw, (f,) if layout == "4d" else ())
            args += ", b"
        pad = draw(st.sampled_from(["", ", padding=1", ", padding_total=1", ", padding=[0, 1]"]))
        stride = draw(st.sampled_from(["", ", stride=2", ", stride=[1, 2]"]))
        line = f"Y = conv2d({args}{stride}{pad})"
    elif kind == "pool":
        c, h, w = draw(st.integers(1, 2)), draw(st.integers(2, 4)), draw(st.integers(2, 4))
        size = draw(st.integers(1, min(h, w)))
        values["X"] = _tensor(draw, (c, h, w) if c > 1 else (h, w))
        op = draw(st.sampled_from(["maxpool2d", "avgpool2d"]))
        extra = draw(st.sampled_from(["", ", stride=1"]))
        if size >= 2:
            extra += draw(st.sampled_from(["", ", padding=1"]))
        if op == "avgpool2d":
            extra += draw(st.sampled_from(["", ", count_include_pad=False"]))
        line = f"Y = {op}(X, {size}{extra})"
    elif kind == "reduce":
        values["X"] = _tensor(draw, (draw(st.integers(1, 3)), draw(st.integers(1, 3))))
        op = draw(st.sampled_from(["sum", "mean", "max", "prod"]))
        axis = draw(st.sampled_from(["", ", axis=0", ", axis=1", ", axis=-1"]))
        line = f"Y = {op}(X{axis})"
    elif kind == "softmax":
        values["X"] = _tensor(draw, (draw(st.integers(1, 3)), draw(st.integers(1, 3))))
        op = draw(st.sampled_from(["softmax", "log_softmax"]))
        line = f"Y = {op}(X, axis={draw(st.sampled_from([0, 1, -1]))})"
    else:
        rows, k = draw(st.integers(1, 3)), draw(st.integers(2, 4))
        values["X"] = _tensor(draw, (rows, k))
        values["t"] = [draw(st.integers(0, k - 1)) for _ in range(rows)]
        red = draw(st.sampled_from(["", ", reduction='sum'", ", reduction='none'"]))
        line = f"Y = cross_entropy(X, t{red})"
    vals = "\n".join(f"  {k}: {v}" for k, v in values.items())
    return (f"nnlab: 1\ntitle: structured\nvalues:\n{vals}\ncompute:\n  - {line}\n"
            f"  - loss = sum(tanh(Y) * Y)\nbackward: loss\n")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(structured(), st.data())
def test_random_structured_ops_symbolic_equals_numeric(text, data):
    from hypothesis import assume

    from nnlab.errors import NnlabError

    try:
        run = scenario_run(text)
    except NnlabError:
        assume(False)
    report = verify_gradients(run)
    assert report.ok, (report.summary, text)
    shape = run.graph.nodes["X"].shape
    index = tuple(data.draw(st.integers(0, s - 1)) for s in shape)
    chain = chain_for(run, f"grad(X)[{', '.join(map(str, index))}]")
    assert chain.agree, (index, chain.total, chain.engine, text)
