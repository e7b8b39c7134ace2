"""What ``nnlab validate`` leaves out or makes more cheaply gives what the full way gives.

The session imports checking and references only when asked; the engine's records are
NamedTuples and plain classes (cheaper to define than dataclasses); a temp node's text is
written out once; the arithmetic's element count uses Python ints.
"""

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from nnlab.engine import run as run_module
from nnlab.engine import train as train_mod
from nnlab.engine.graph import Graph, Node, NodeKind, build_graph
from nnlab.engine.ops.base import Example
from nnlab.scenario.expr import parse_expr, to_text
from nnlab.scenario.model import loads
from nnlab.session import open_session
from tests.helpers import run_yaml

ROOT = Path(__file__).resolve().parents[3]

NEURON = """
nnlab: 1
title: neuron
values:
  W: [[0.5, -1.0], [2.0, 0.25]]
  x: [1.0, 2.0]
  b: [0.1, 0.2]
compute:
  - z = W @ x + b * 2
  - a = sigmoid(z - 1)
  - loss = sum(a * a)
backward: loss
"""


def test_a_session_runs_without_importing_checking_and_checks_after_importing_it():
    code = textwrap.dedent("""
        import json, sys
        from nnlab.session import open_session
        s = open_session("scenarios/neuron-forward.yaml")
        before = sorted(m for m in ("nnlab.check", "nnlab.scenario.refs", "nnlab.engine.explain", "dataclasses")
                        if m in sys.modules)
        report = s.check()
        print(json.dumps({"before": before, "ok": report.ok, "items": len(report.items),
                          "after": "nnlab.check" in sys.modules}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                          env={"NNLAB_CACHE": "0", "PATH": ""})
    got = json.loads(done.stdout)
    assert got["before"] == []  # running imported none of them
    assert got["ok"] and got["items"] >= 1 and got["after"]


def test_the_lazily_imported_session_methods_answer_as_before():
    s = open_session(str(ROOT / "scenarios" / "mlp-2layer-backprop.yaml"))
    assert s.check().ok
    assert s.explain_quantity("params")[0].startswith("params = size(")
    assert s.ref_context("z1[0]")[1] == "z1[0]"
    assert s.check_error("shape").ok is False
    assert s.check_error("shape").actual == "no error: the run succeeded"
    [(step, explanation)] = s.explain_ref("a1[0]")
    assert step.node == "a1" and explanation.value == pytest.approx(s.run.value("a1")[0])
    assert s.explain(step, (0,)).value == explanation.value


def test_backward_titles_come_from_the_op_protocol_and_explain_shows_the_same():
    from nnlab.engine import explain
    from nnlab.engine.ops import base

    assert explain.backward_title is base.backward_title and explain.OP_SYMBOLS is base.OP_SYMBOLS
    assert base.backward_title("loss", "matmul", ["W1", "(a + b)"]) == "∂loss/∂W1, ∂loss/∂(a + b) ← through @"
    assert base.backward_title("L", "sigmoid", []) == "∂L/∂… ← through sigmoid"


def test_a_temp_nodes_text_is_its_expression_as_written():
    graph = build_graph(loads(textwrap.dedent(NEURON), "t.yaml"))
    temps = {nid: node for nid, node in graph.nodes.items() if node.is_temp}
    assert sorted(node.text for node in temps.values()) == ["a * a", "b * 2", "z - 1"]  # (W @ x + b: affine)
    for node in temps.values():  # the text is the label, and what to_text writes for it
        assert node.text == node.label == to_text(parse_expr(node.text))
    assert graph.nodes["z"].text == "W @ x + b * 2"


@pytest.mark.parametrize("limit, arithmetic", [(14, "exact"), (13, "float64")])
def test_the_exact_limit_counts_every_element_once_per_example(monkeypatch, limit, arithmetic):
    text = """
    nnlab: 1
    title: count
    values:
      w: [0.5, 0.25]
    data:
      x: [[1, 2], [3, 4], [5, 6]]
    compute:
      - y = w * x * 2
      - s = sum(y)
    """
    graph = build_graph(loads(textwrap.dedent(text), "t.yaml"))
    sizes = {nid: (n.shape, str(n.kind)) for nid, n in graph.nodes.items()}
    assert sizes == {"w": ((2,), "value"), "x": ((2,), "data"), "y#1": ((2,), "op"), "const:2": ((), "const"),
                     "y": ((2,), "op"), "s": ((), "op")}
    # the slow way (NumPy's product of each shape): w 2 + x 2·3 examples + y#1 2 + const 1 + y 2 + s 1
    slow = sum(int(np.prod(n.shape)) * (len(n.value) if n.kind == "data" and n.value is not None else 1)
               for n in graph.nodes.values())
    assert slow == 14
    monkeypatch.setattr(run_module, "EXACT_LIMIT", limit)
    assert run_module.choose_arithmetic(graph) == arithmetic


def test_a_copied_node_is_its_own_and_a_graph_takes_its_parts_positionally():
    graph = build_graph(loads(textwrap.dedent(NEURON), "t.yaml"))
    node = graph.nodes["z"]
    twin = copy.copy(node)
    twin.text, twin.named = "changed", False
    assert (node.text, node.named) == ("W @ x + b * 2", True)
    assert (twin.id, twin.kind, twin.shape, twin.op, twin.op_inputs, twin.loc) == \
        (node.id, node.kind, node.shape, node.op, node.op_inputs, node.loc)
    again = Graph(graph.scenario, dict(graph.nodes), list(graph.order), list(graph.lines))
    assert again.nodes == graph.nodes and again.order == graph.order and again.plans == {}
    assert repr(node) == "Node('z', op, shape=(2,))"
    leaf = Node("c", NodeKind.CONST, "3", ())
    assert (leaf.batched, leaf.op, leaf.inputs, leaf.line, leaf.text, leaf.op_inputs) == (False, None, (), -1, "", ())


def test_a_run_cannot_be_changed_and_holds_what_it_computed():
    run = run_yaml(NEURON)
    with pytest.raises(AttributeError):
        run.values = {}  # type: ignore[misc]
    assert run.target == "loss" and run.batch == 1 and run.arithmetic == "float64"
    assert set(run.ops) == set(run.graph.order)
    assert run.op("a").in_shapes == [(1, 2)]
    assert len(run.steps) == 2 * len(run.graph.order)


def test_examples_get_dicts_of_their_own():
    a, b = Example("y = f(x)"), Example("y = g(x)", {"x": [1.0]}, ("x",))
    assert a.values == {} and a.data == {} and a.values is not a.data
    a.values["x"] = 1
    assert Example("y = h(x)").values == {}
    assert (b.compute, b.values, b.fixed, b.data) == ("y = g(x)", {"x": [1.0]}, ("x",), {})


class _Unbounded(train_mod.Snapshots):
    """The snapshots as they were made before a training said how many updates it can make."""

    def __init__(self, start, interval=1, updates=None):
        super().__init__(start, interval)


@pytest.mark.parametrize("name, epochs, every", [("train-perceptron-and", 3, None), ("train-perceptron-xor", 4, 3),
                                                 ("train-sgd-minibatch", 5, None), ("train-momentum-two-steps", 2, 2)])
def test_a_block_sized_to_the_training_holds_the_same_snapshots(monkeypatch, name, epochs, every):
    scenario = loads((ROOT / "scenarios" / f"{name}.yaml").read_text(), f"{name}.yaml")
    scenario = scenario._replace(train={**scenario.train, "epochs": epochs})
    fast = train_mod.train(scenario, checkpoint_every=every)
    monkeypatch.setattr(train_mod, "Snapshots", _Unbounded)
    slow = train_mod.train(scenario, checkpoint_every=every)
    snaps = fast.snapshots
    assert type(slow.snapshots) is _Unbounded and slow.snapshots._rows > snaps._rows >= 2
    assert snaps._rows >= len(fast.records) // snaps.interval + 1  # (a perceptron may stop before its bound)
    assert len(snaps._blocks) == 1
    assert len(snaps) == len(slow.snapshots) == len(fast.records) + 1
    for k in range(len(snaps)):  # stored or replayed, each is what the full block gives, bit for bit
        a, b = snaps[k], slow.snapshots[k]
        assert a.keys() == b.keys()
        for p in a:
            assert a[p].dtype == b[p].dtype
            assert a[p].tolist() == b[p].tolist() if a[p].dtype == object else a[p].tobytes() == b[p].tobytes()
    assert [r.changed for r in fast.records] == [r.changed for r in slow.records]
    assert train_mod.training_state(fast) is None or all(
        np.array_equal(x, y) for x, y in zip(train_mod.training_state(fast).values(),
                                             train_mod.training_state(slow).values()))
