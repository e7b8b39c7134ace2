"""A session: one loaded scenario and what running it produced.

The CLI and the TUI both work through this object, so "load, run, check, explain a
reference" means the same thing everywhere. Training scenarios plug in here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nnlab.check import CheckReport, check_run
from nnlab.engine.run import Run, run_scenario, to_float
from nnlab.engine.trace import BACKWARD, FORWARD, Explanation, Step
from nnlab.errors import NnlabError, did_you_mean
from nnlab.scenario.expr import Call, Index, Name, parse_expr
from nnlab.scenario.model import DEFAULT_MAX_ELEMENTS, Scenario, load


@dataclass(frozen=True)
class Session:
    """A scenario and its run (the trace views step through)."""

    scenario: Scenario
    run: Run

    @property
    def steps(self) -> tuple[Step, ...]:
        """All steps of the trace."""
        return self.run.steps

    def check(self) -> CheckReport:
        """Check the scenario's ``expect`` entries."""
        return check_run(self.run)

    def explain(self, step: Step | int, *args: Any, **kwargs: Any) -> Explanation:
        """See :meth:`Run.explain`."""
        return self.run.explain(step, *args, **kwargs)

    def step_json(self, step: Step, digits: int = 6) -> dict:
        """A JSON-friendly description of one step, with its data."""
        node = self.run.graph.nodes[step.node]
        d: dict[str, Any] = {"index": step.index, "phase": step.phase, "node": step.node, "label": step.label,
                             "op": step.op, "inputs": list(step.inputs), "shape": list(step.shape)}
        if step.phase == FORWARD:
            d["value"] = to_float(self.run.values[step.node]).tolist() if node.batched else \
                to_float(self.run.values[step.node][0]).tolist()
        else:
            d["upstream"] = to_float(self.run.grads[step.node]).tolist()
            d["accumulates"] = [list(a) for a in step.accumulates]
        return d

    def explain_ref(self, ref: str, digits: int = 4) -> list[tuple[Step, Explanation]]:
        """Explain the element a reference names: ``Y[0,0]``, ``a1``, ``grad(W1)[0,1]``.

        For a gradient, every backward step that contributes to it is explained.
        """
        expr = parse_expr(ref)
        index: tuple = ()
        if isinstance(expr, Index):
            if any(isinstance(k, slice) for k in expr.key):
                raise NnlabError(f"explain needs one element, not a slice: {ref}")
            index, expr = tuple(expr.key), expr.value
        names = [n for n in self.run.graph.nodes if "#" not in n and not n.startswith("const:")]
        if isinstance(expr, Call) and expr.func == "grad" and len(expr.args) == 1 and isinstance(expr.args[0], Name):
            name = expr.args[0].id
            if name not in self.run.graph.nodes:
                raise NnlabError(f"unknown name '{name}' in {ref}", hint=did_you_mean(name, names))
            index = _normalize(index, self.run.graph.nodes[name].shape, ref)
            out = []
            for step in self.steps:
                if step.phase == BACKWARD:
                    for slot, inp in enumerate(step.inputs):
                        if inp == name:
                            out.append((step, self.run.explain(step, index, slot=slot, digits=digits)))
            if not out:
                raise NnlabError(f"no backward step computes grad({name})",
                                 hint="is there a `backward:` target that depends on it?")
            return out
        if isinstance(expr, Name):
            step = self.run.step_of(expr.id, FORWARD)
            if step is None:
                if expr.id in self.run.graph.nodes:
                    raise NnlabError(f"'{expr.id}' is an input; there is no step computing it")
                raise NnlabError(f"unknown name '{expr.id}'", hint=did_you_mean(expr.id, names))
            index = _normalize(index, self.run.graph.nodes[expr.id].shape, ref)
            return [(step, self.run.explain(step, index, digits=digits))]
        raise NnlabError(f"cannot explain '{ref}'", hint="use NAME, NAME[i, j] or grad(NAME)[i, j].")


def _normalize(index: tuple, shape: tuple[int, ...], ref: str) -> tuple[int, ...]:
    if len(index) != len(shape):
        if not index and not shape:
            return ()
        raise NnlabError(f"{ref}: give {len(shape)} indices for shape {shape}", hint="e.g. [0, 0].")
    for i, n in zip(index, shape):
        if not -n <= i < n:
            raise NnlabError(f"{ref}: index {i} is out of range for shape {shape}")
    return tuple(int(i) % n for i, n in zip(index, shape))


def open_session(path: str, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> Session:
    """Load a scenario file and run it."""
    scenario = load(path, max_elements=max_elements)
    return Session(scenario, run_scenario(scenario))


def session_from_scenario(scenario: Scenario) -> Session:
    """Run an already-loaded scenario."""
    return Session(scenario, run_scenario(scenario))


__all__ = ["Session", "open_session", "session_from_scenario", "np"]
