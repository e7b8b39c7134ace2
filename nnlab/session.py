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
class _Element:
    """One element a reference names, and the run it is evaluated in."""

    run: Run
    plain: str            # the reference without a training prefix
    context: str | None   # which parameters / example, in words
    grad: bool            # grad(NAME)[...] rather than NAME[...]
    name: str
    index: tuple[int, ...]
    example: int


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
        try:
            snap = self._snapshot(prefix)
        except ValueError as exc:
            raise ev._err(str(exc), prefix if isinstance(prefix, Call) and prefix.target is None else e) from None
        ev.step = max(ev.step, snap * self._steps.group - 1 if snap else 0)
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

        For a gradient, every backward step that contributes to it is explained. In a
        training scenario the reference may name the parameters it is evaluated with,
        ``epoch(2).grad(W1)[0,0]`` or ``update(5).z[1]``; without a prefix it means the
        final parameters. With data, a per-example node takes the example first:
        ``yhat[3]``, ``z1[3, 0]``. The steps returned belong to the run
        :meth:`ref_context` names.
        """
        el = self._element(ref)
        run = el.run
        if el.grad:
            out = [(step, run.explain(step, el.index, slot=slot, example=el.example, digits=digits))
                   for step in run.steps if step.phase == BACKWARD
                   for slot, inp in enumerate(step.inputs) if inp == el.name]
            if not out and el.name == run.target:
                raise NnlabError(f"grad({el.name}) is where the backward pass starts: ∂{el.name}/∂{el.name} = 1"
                                 + (f", and each of the {run.batch} examples counts 1/{run.batch} in the mean"
                                    if run.batch > 1 else ""), hint="explain a gradient further down, e.g. "
                                 "the gradient of a parameter.")
            if not out:
                raise NnlabError(f"no backward step computes grad({el.name})",
                                 hint="is there a `backward:` target that depends on it?")
            return out
        step = run.step_of(el.name, FORWARD)
        if step is None:
            raise NnlabError(f"'{el.name}' is an input; there is no step computing it")
        return [(step, run.explain(step, el.index, example=el.example, digits=digits))]

    def ref_context(self, ref: str) -> tuple[Run, str, str | None]:
        """Where :meth:`explain_ref` evaluates ``ref``.

        Returns:
            The run, the reference without its ``epoch(k).``/``update(k).`` prefix, and
            a description of the parameters and example used (None when there is no
            training and no data).
        """
        el = self._element(ref)
        return el.run, el.plain, el.context

    def _element(self, ref: str) -> _Element:
        from nnlab.scenario.expr import to_text

        run, expr, context = self._qualified(ref)
        plain = to_text(expr)
        index: tuple = ()
        if isinstance(expr, Index):
            if any(isinstance(k, slice) for k in expr.key):
                raise NnlabError(f"explain needs one element, not a slice: {ref}")
            index, expr = tuple(expr.key), expr.value
        grad = isinstance(expr, Call) and expr.func == "grad" and len(expr.args) == 1 and isinstance(
            expr.args[0], Name)
        if not grad and not isinstance(expr, Name):
            hint = "use NAME, NAME[i, j] or grad(NAME)[i, j]"
            if self.training is not None:
                hint += ", optionally after epoch(k). or update(k)."
            raise NnlabError(f"cannot explain '{ref}'", hint=hint + ".")
        name = expr.args[0].id if grad else expr.id
        if name not in run.graph.nodes:
            names = [n for n in run.graph.nodes if "#" not in n and not n.startswith("const:")]
            raise NnlabError(f"unknown name '{name}'" + (f" in {ref}" if grad else ""),
                             hint=did_you_mean(name, names))
        example, index = _example(run, name, index, ref)
        if run.graph.nodes[name].batched and run.batch > 1:
            where = f"example {example} of {run.batch}"
            context = f"{context}; {where}" if context else where
        return _Element(run, plain, context, grad, name, index, example)

    def _qualified(self, ref: str) -> tuple[Run, Any, str | None]:
        """Parse ``ref``; split off a training prefix and pick the run it names."""
        tr = self.training
        expr = parse_expr(ref, qualified=tr is not None)
        if tr is None:
            return self.run, expr, None
        examples = f"all {self.run.batch} examples"
        inner = expr.value if isinstance(expr, Index) else expr
        if isinstance(inner, Attr) and isinstance(inner.value, Call):
            prefix, inner = inner.value, Name(inner.name, inner.col, inner.end)
        elif isinstance(inner, Call) and inner.target is not None:
            prefix, inner = inner.target, inner._replace(target=None)
        else:
            return self.run, expr, (f"the final parameters (after epoch {tr.epochs}, update "
                                    f"{len(tr.records)}), on {examples}")
        try:
            snapshot = self._snapshot(prefix)
        except ValueError as exc:
            raise NnlabError(f"cannot explain '{ref}': {exc}") from None
        if snapshot == 0:
            context = f"the starting parameters, on {examples}"
        elif prefix.func == "epoch":
            context = f"the parameters after epoch {prefix.args[0].value} (update {snapshot}), on {examples}"
        else:
            context = (f"the parameters after update {snapshot} (epoch {tr.records[snapshot - 1].epoch}), "
                       f"on {examples}")
        expr = expr._replace(value=inner) if isinstance(expr, Index) else inner
        return tr.run_at(snapshot, None, target=tr.loss_target), expr, context


    def _snapshot(self, prefix: Any) -> int:
        """The parameter snapshot (number of updates made) a prefix ``epoch(k)``/``update(k)`` names.

        Raises:
            ValueError: Not one such prefix, or k out of range (the message says which).
        """
        tr = self.training
        if not (isinstance(prefix, Call) and prefix.func in ("epoch", "update") and len(prefix.args) == 1
                and isinstance(prefix.args[0], Num) and isinstance(prefix.args[0].value, int)
                and prefix.target is None):
            raise ValueError("expected one prefix, epoch(k). or update(k).")
        k = prefix.args[0].value
        if prefix.func == "epoch":
            if not 0 <= k <= tr.epochs:
                raise ValueError(f"epoch({k}) is out of range: training ran {tr.epochs} epoch(s)")
            return tr.epoch_end[k]
        if not 0 <= k <= len(tr.records):
            raise ValueError(f"update({k}) is out of range: training made {len(tr.records)} update(s)")
        return k


def _example(run: Run, name: str, index: tuple, ref: str) -> tuple[int, tuple[int, ...]]:
    """Split an example index off ``index`` for a node with one value per example.

    ``yhat[3]`` is example 3 of ``yhat`` when the run has data and ``yhat`` is
    per-example (shape ``()``); ``z1[3, 0]`` is element 0 of example 3. Without the
    extra index the first example is meant.
    """
    node = run.graph.nodes[name]
    if node.batched and len(index) == len(node.shape) + 1:
        if not -run.batch <= index[0] < run.batch:
            raise NnlabError(f"{ref}: example {index[0]} is out of range: there are {run.batch} examples")
        return int(index[0]) % run.batch, _normalize(index[1:], node.shape, ref)
    return 0, _normalize(index, node.shape, ref)


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
