"""Shape-only runs: the answer to "what shape / how many parameters?" without computing a value.

When every ``expect`` reference is ``shape(…)``, ``size(…)`` or ``params``
(:func:`nnlab.scenario.model.is_shape_question`), the graph builder's shape inference
already knows every answer. A shape-only :class:`~nnlab.engine.run.Run` holds, for every
node, a zero-memory stand-in of its shape (:func:`~nnlab.scenario.model.shape_stand_in`:
one 0 repeated by a stride of 0), and the forward steps with their labels, so VGG-16's
138 million parameters are counted in milliseconds and a few kilobytes. No value is
computed: every element reads 0 (every op can still explain its arithmetic on it, as the
lab asks), and the run's arithmetic says so wherever it is shown.
"""

from __future__ import annotations

from nnlab.engine.graph import Graph
from nnlab.engine.run import Run, _label
from nnlab.engine.trace import FORWARD, Step
from nnlab.scenario.model import shape_stand_in

SHAPES_ONLY = "shapes only: no value computed, 0 shown"
"""The :attr:`Run.arithmetic` of a shape-only run (shown where the arithmetic is shown)."""


def arithmetic_label(arithmetic: str) -> str:
    """How a run's arithmetic reads in a heading: ``float64 arithmetic``, or :data:`SHAPES_ONLY` as it is."""
    return arithmetic if arithmetic == SHAPES_ONLY else f"{arithmetic} arithmetic"


def shape_run(graph: Graph) -> Run:
    """A run of ``graph`` that infers shapes only: stand-in values, forward steps, no gradients."""
    s = graph.scenario
    batch = max((len(v.array) for v in s.data.values()), default=1)
    values = {}
    steps = []
    for nid, node in graph.nodes.items():
        rows = batch if node.batched and s.data else 1
        values[nid] = shape_stand_in((rows,) + tuple(node.shape))
    for nid in graph.order:
        node = graph.nodes[nid]
        steps.append(Step(len(steps), FORWARD, nid, _label(graph, node), node.op.name,
                          tuple(i or "" for i in node.op_inputs), node.line, node.shape))
    return Run(s, graph, tuple(steps), values, {}, None, batch, SHAPES_ONLY, {}, {})
