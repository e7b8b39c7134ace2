"""A session: one loaded scenario and what running it produced.

The CLI and the TUI both work through this object, so "load, run, check, explain a
reference" means the same thing everywhere. Training scenarios plug in here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nnlab.check import CheckReport, check_run
from nnlab.engine.run import Run, run_scenario, to_float
from nnlab.engine.trace import BACKWARD, FORWARD, UPDATE, Explanation, Step
from nnlab.errors import NnlabError, did_you_mean
from nnlab.scenario.expr import Attr, Call, Index, Name, Num, parse_expr
from nnlab.scenario.model import DEFAULT_MAX_ELEMENTS, Scenario, load


@dataclass(frozen=True)
class Session:
    """A scenario and its run (the trace views step through).

    Attributes:
        scenario: The loaded scenario.
        run: The run references without a prefix mean: the plain run, or for a
            training scenario the final parameters evaluated on all examples.
        training: The training result, for scenarios with ``train:``.
    """

    scenario: Scenario
    run: Run
    training: Any = None
    _steps: Any = None

    @property
    def steps(self) -> Any:
        """All steps: the run's trace, or for training one group of steps per update (made on demand)."""
        return self._steps if self._steps is not None else self.run.steps

    def run_for(self, step: Step) -> Run:
        """The run a step lives in (an update's recomputed run during training)."""
        if self.training is None or step.update is None:
            return self.run
        return self.training.update_run(step.update)

    def inner_step(self, step: Step) -> Step | None:
        """The step inside :meth:`run_for`'s trace (None for an update step)."""
        if self.training is None:
            return step
        return self._steps.inner(step)

    def check(self) -> CheckReport:
        """Check the scenario's ``expect`` entries."""
        if self.training is None:
            return check_run(self.run)
        final = max(len(self.steps) - 1, 0)
        return check_run(self.run, resolve=self._resolve, extra=self.training.facts(), final_step=final)

    def check_entry(self, entry: Any) -> Any:
        """Check one (possibly edited) ``expect`` entry exactly as :meth:`check` would."""
        from nnlab.check import check_entry

        if self.training is None:
            return check_entry(self.run, entry)
        return check_entry(self.run, entry, self._resolve, self.training.facts(), max(len(self.steps) - 1, 0))

    def explain(self, step: Step | int, element: Any = None, **kwargs: Any) -> Explanation:
        """Explain one element of a step (see :meth:`Run.explain`); update steps show the update rule."""
        if isinstance(step, int):
            step = self.steps[step]
        if self.training is None:
            return self.run.explain(step, element, **kwargs)
        if step.phase == UPDATE:
            from nnlab.engine.train import explain_update

            index = tuple(element) if element is not None else (0,) * len(step.shape)
            return explain_update(self.training, step.update, step.node, index, kwargs.get("digits", 4))
        return self.run_for(step).explain(self.inner_step(step), element, **kwargs)

    def _resolve(self, e: Any, ev: Any) -> Any:
        """Qualified training references: ``epoch(k).NAME``, ``update(k).grad(NAME)``."""
        tr = self.training
        prefix = e.value if isinstance(e, Attr) else e.target
        if not (isinstance(prefix, Call) and prefix.func in ("epoch", "update") and len(prefix.args) == 1
                and isinstance(prefix.args[0], Num) and isinstance(prefix.args[0].value, int)):
            raise ev._err("expected epoch(k).NAME or update(k).NAME", e)
        k = prefix.args[0].value
        if prefix.func == "epoch":
            if not 0 <= k <= tr.epochs:
                raise ev._err(f"epoch({k}) is out of range: training ran {tr.epochs} epoch(s)", prefix)
            snap = tr.epoch_end[k]
            ev.step = max(ev.step, tr.epoch_end[k] * self._steps.group - 1 if k else 0)
        else:
            if not 0 <= k <= len(tr.records):
                raise ev._err(f"update({k}) is out of range: training made {len(tr.records)} update(s)", prefix)
            snap = k
            ev.step = max(ev.step, k * self._steps.group - 1 if k else 0)
        run = tr.run_at(snap, None, target=tr.loss_target)
        sub = type(ev)(run, None, ev.extra)
        sub.loc = ev.loc
        if isinstance(e, Attr):
            return sub._eval(Name(e.name, e.col, e.end))
        return sub._eval(Call(e.func, e.args, e.kwargs, e.col, e.end))

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
    """Load a scenario file and run (or train) it."""
    return session_from_scenario(load(path, max_elements=max_elements))


def session_from_scenario(scenario: Scenario) -> Session:
    """Run (or train) an already-loaded scenario."""
    if scenario.train is None:
        return Session(scenario, run_scenario(scenario))
    from nnlab.engine.train import TrainSteps, train

    tr = train(scenario)
    final = tr.run_at(len(tr.snapshots) - 1, None, target=tr.loss_target)
    return Session(scenario, final, tr, TrainSteps(tr))


__all__ = ["Session", "open_session", "session_from_scenario"]
