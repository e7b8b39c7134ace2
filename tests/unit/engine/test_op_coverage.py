"""Every registered op, found by itself: gradcheck, symbolic cross-check, docs table, lab.

Nothing here lists ops. Each op class declares a tiny runnable :class:`Example`
(``Op.example``); these tests run it four ways and fail naming the op when a part of
the recipe is missing:

* **gradcheck** — float64 central differences of ``L = sum(y * y)`` against backprop,
  through the whole engine (graph, run, unbroadcasting);
* **symbolic** — the op's own sympy forward (``Op.symbolic``) gives the engine's value,
  and sympy's gradient of the example agrees with backprop (``verify_gradients``);
  its rule (``Op.rule``) is written;
* **docs** — the op table of ``docs/scenario-format.md`` lists it;
* **lab** — a scenario using it opens in the lab's view model, every step's focus
  computed without error.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from nnlab.engine.graph import build_graph
from nnlab.engine.ops import REGISTRY
from nnlab.engine.run import run_graph, to_float
from nnlab.scenario import loads

NAMES = sorted(REGISTRY)
DOCS = Path(__file__).resolve().parents[3] / "docs" / "scenario-format.md"


def example_text(name: str) -> str:
    """The op's example as a scenario: its values, its compute line(s), ``L = sum(y * y)``."""
    ex = REGISTRY[name].example
    assert ex is not None, f"op '{name}' declares no example (Op.example): add one to its class"
    lines = [line.strip() for line in ex.compute.splitlines() if line.strip()]
    doc = {"nnlab": 1, "title": f"{name} example", "values": ex.values, **({"data": ex.data} if ex.data else {}),
           "compute": lines + ["L = sum(y * y)"], "backward": "L"}
    return yaml.safe_dump(doc, sort_keys=False)


def example_graph(name: str):
    graph = build_graph(loads(example_text(name), f"{name}-example.yaml"))
    nodes = [n for n in graph.order if graph.nodes[n].op.name == name]
    assert nodes, f"op '{name}': its example does not use it"
    return graph, nodes


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck(name):
    graph, _ = example_graph(name)
    fixed = set(REGISTRY[name].example.fixed)
    run = run_graph(graph, arithmetic="float64")
    leaves = {n: np.asarray(to_float(run.values[n]), dtype=float) for n, node in graph.nodes.items()
              if node.kind in ("value", "data") and n not in fixed}
    h = 1e-6
    for leaf, base in leaves.items():
        numeric = np.zeros(base.shape)
        for index in np.ndindex(*base.shape):
            total = []
            for sign in (1, -1):
                moved = base.copy()
                moved[index] += sign * h
                other = run_graph(graph, {**leaves, leaf: moved}, arithmetic="float64")
                total.append(float(to_float(other.values["L"]).sum()))
            numeric[index] = (total[0] - total[1]) / (2 * h)
        backprop = np.asarray(run.grad(leaf), dtype=float).reshape(base.shape)
        assert np.allclose(backprop, numeric, rtol=1e-5, atol=1e-7), \
            f"op '{name}': ∂L/∂{leaf} from backward differs from central differences"


@pytest.mark.parametrize("name", NAMES)
def test_symbolic_cross_check(name):
    import sympy as sp

    from nnlab.symbolic import kit
    from nnlab.symbolic.ops import forward, has_symbolic_form
    from nnlab.symbolic.rules import step_rule
    from nnlab.symbolic.verify import verify_gradients

    assert has_symbolic_form(REGISTRY[name]), f"op '{name}' has no symbolic forward (Op.symbolic)"
    graph, nodes = example_graph(name)
    run = run_graph(graph, arithmetic="float64")
    for nid in nodes:
        node = graph.nodes[nid]
        batch = node.op.across_examples  # it reads every example: batch-first inputs
        nums = [None if i is None else to_float(run.values[i])[slice(None) if batch else 0] for i in node.op_inputs]
        xs = [None if v is None else kit.amap(kit.number, np.asarray(v, dtype=object)) for v in nums]
        out = forward(node.op, xs, nums, batch=batch)
        value = np.vectorize(lambda e: float(sp.N(e, 30)), otypes=[float])(out) if out.size else out
        engine = np.asarray(run.value(nid), dtype=float)
        assert np.allclose(value, engine, rtol=1e-12, atol=1e-12), \
            f"op '{name}': its symbolic forward gives {value}, the engine {engine}"
        for step in run.steps:
            if step.node == nid:
                rule = step_rule(run, step)
                assert rule.unicode and not any("no symbolic rule" in n for n in rule.notes), \
                    f"op '{name}' writes no rule (Op.rule)"
    report = verify_gradients(run)
    assert report.qualified, f"op '{name}': sympy cannot check its example: {report.reason}"
    assert report.ok, f"op '{name}': {report.summary}"


def _documented() -> str:
    """The first cells of the op table of the authoring guide."""
    text = DOCS.read_text(encoding="utf-8")
    table = text[text.index("| op | notes |"):].split("\n\n")[0]
    return "\n".join(row.split("|")[1] for row in table.splitlines()[2:] if row.startswith("|"))


@pytest.mark.parametrize("name", NAMES)
def test_docs_table_lists_the_op(name):
    cls = REGISTRY[name]
    written = cls.written or cls.name
    cells = _documented()
    assert re.search(rf"(?<![\w.]){re.escape(written)}(?![\w])", cells), \
        f"op '{name}' ({written}) is missing from the op table of docs/scenario-format.md"


@pytest.mark.parametrize("name", NAMES)
def test_opens_in_the_lab(name):
    from nnlab.session import session_from_scenario
    from nnlab.tui.model import LabModel

    session = session_from_scenario(loads(example_text(name), f"{name}-example.yaml"))
    model = LabModel(session, f"{name}-example.yaml")
    assert any(step.op == name for step in model.steps), f"op '{name}': no step of it in the lab"
    for k, step in enumerate(model.steps):
        for element in range(model.element_count(k)):
            focus = model.focus(k, element)
            assert focus.error == "" and focus.explanation is not None, \
                f"op '{name}': the lab cannot explain step {step.label} element {element}: {focus.error}"
