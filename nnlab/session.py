"""A session: one loaded scenario and what running it produced.

The CLI and the TUI both work through this object, so "load, run, check, explain a
reference" means the same thing everywhere. Training scenarios plug in here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from nnlab.engine.run import Run, run_scenario, to_float
from nnlab.engine.trace import BACKWARD, FORWARD, UPDATE, Explanation, Step
from nnlab.errors import NnlabError, did_you_mean
from nnlab.scenario.expr import Equation, parse_expr
from nnlab.scenario.model import ERROR_KINDS, ExpectedError, ExpectEntry, Scenario, load, loads

if TYPE_CHECKING:  # checking answers, reading references and explaining are imported when asked for:
    # `nnlab validate` never asks (2 ms of its start)
    from nnlab.check import CheckItem, CheckReport
    from nnlab.scenario.refs import Ref, Snapshot


class _Element(NamedTuple):
    """One element a reference names, and the run it is evaluated in."""

    run: Run
    plain: str            # the reference without a training prefix
    context: str | None   # which parameters / example, in words
    grad: bool            # grad(NAME)[...] rather than NAME[...]
    name: str
    index: tuple[int, ...]
    example: int


class Session(NamedTuple):  # not a dataclass: a frozen dataclass costs nnlab check ~0.5 ms to define
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
    train_steps: Any = None
    """For a training scenario: its steps, one group per update (:class:`~nnlab.engine.train.TrainSteps`)."""
    failure: NnlabError | None = None
    """For a scenario meant to fail (``expect: {error: …}``): the error it failed with, if it did."""

    @property
    def steps(self) -> Any:
        """All steps: the run's trace, or for training one group of steps per update (made on demand)."""
        return self.train_steps if self.train_steps is not None else self.run.steps

    def run_for(self, step: Step) -> Run:
        """The run a step lives in (an update's recomputed run during training)."""
        if self.training is None or step.update is None:
            return self.run
        return self.training.update_run(step.update)

    def inner_step(self, step: Step) -> Step | None:
        """The step inside :meth:`run_for`'s trace (None for an update step)."""
        if self.training is None:
            return step
        return self.train_steps.inner(step)

    def check(self, entries: tuple[ExpectEntry, ...] | None = None, *, diagnose: bool = True) -> CheckReport:
        """Check the scenario's ``expect`` entries (or ``entries``, e.g. edited in the lab).

        With ``diagnose`` (the default), wrong answers are also marked from the user's
        own earlier answers and matched against the misconception catalog
        (:mod:`nnlab.diagnosis`); nothing extra runs when every answer is right.
        """
        from nnlab.check import check_run

        if self.training is None:
            report = check_run(self.run, entries)
        else:
            report = check_run(self.run, entries, at=self._at, facts=self.training.facts(),
                               final_step=self._final_step, state=self._state)
        if diagnose and not report.ok:
            from nnlab.diagnosis import diagnose as _diagnose

            report = _diagnose(self, report, entries)
        if self.scenario.expect_error is not None and entries is None:
            report = _with_error_item(report, self.scenario.expect_error, self.failure)
        return report

    def check_entry(self, entry: ExpectEntry) -> CheckItem:
        """Check one (possibly edited) ``expect`` entry exactly as :meth:`check` would."""
        from nnlab.check import check_entry

        if self.training is None:
            return check_entry(self.run, entry)
        return check_entry(self.run, entry, self._at, self.training.facts(), self._final_step, self._state)

    def check_error(self, kind: str) -> CheckItem:
        """Check the answer ``error: KIND`` (possibly edited) exactly as :meth:`check` would."""
        expected = self.scenario.expect_error
        return error_item(kind, self.failure, expected.loc if expected is not None else None)

    @property
    def failed_equation(self) -> Equation | None:
        """The compute line the run stopped at (None: it did not stop, or stopped on no compute line)."""
        if self.failure is None:
            return None
        k = _failing_line(self.scenario, self.failure)
        return self.scenario.equations[k] if k is not None else None

    def evaluate(self, text: str) -> Any:
        """The value of a reference expression as ``check`` computes it: ``"epoch(0).grad(W)[1]"``."""
        from nnlab.check import ReferenceEvaluator

        expr = parse_expr(text, qualified=self.training is not None)
        if self.training is None:
            return ReferenceEvaluator(self.run).eval(expr)
        return ReferenceEvaluator(self.run, self._at, self.training.facts(), self._final_step,
                                  self._state).eval(expr)

    @property
    def _final_step(self) -> int:
        return max(len(self.steps) - 1, 0)

    def explain(self, step: Step | int, element: Any = None, **kwargs: Any) -> Explanation:
        """Explain one element of a step (see :func:`~nnlab.engine.explain.explain`); updates show their rule."""
        from nnlab.engine.explain import explain as explain_element

        if isinstance(step, int):
            step = self.steps[step]
        if self.training is None:
            return explain_element(self.run, step, element, **kwargs)
        if step.phase == UPDATE:
            from nnlab.engine.train import explain_update

            index = tuple(element) if element is not None else (0,) * len(step.shape)
            return explain_update(self.training, step.update, step.node, index, kwargs.get("digits", 4))
        return explain_element(self.run_for(step), self.inner_step(step), element, **kwargs)

    def _at(self, snapshot: Snapshot) -> tuple[Run, int]:
        """The run a training prefix names, and the step where its parameters are known."""
        k = self._updates(snapshot)
        tr = self.training
        return tr.run_at(k, None, target=tr.loss_target), (k * self.train_steps.group - 1 if k else 0)

    def _state(self, snapshot: Snapshot | None) -> dict[str, np.ndarray]:
        """The optimizer state (each parameter's velocity) at a training prefix, or at the end."""
        tr = self.training
        return tr.velocity(len(tr.snapshots) - 1 if snapshot is None else self._updates(snapshot))

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
        from nnlab.engine.explain import explain as explain_element

        el = self._element(ref)
        run = el.run
        if el.grad:
            feeds = [(step, slot) for step in run.steps if step.phase == BACKWARD
                     for slot, inp in enumerate(step.inputs) if inp == el.name]
            out = [(step, explain_element(run, step, el.index, slot=slot, example=el.example, digits=digits))
                   for step, slot in feeds if (step.node, slot) in run.contributions]
            if feeds and not out:  # e.g. a class index: the op does not differentiate it
                ops = " and ".join(sorted({step.op for step, _ in feeds}))
                raise NnlabError(f"no gradient flows into {el.name}: {ops} treats it as a label, not as a "
                                 "number to differentiate", hint="explain the gradient of a parameter or of "
                                 "an activation instead.")
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
        return [(step, explain_element(run, step, el.index, example=el.example, digits=digits))]

    def explain_quantity(self, text: str) -> list[str] | None:
        """Explain ``shape(NAME)``, ``size(NAME)`` or ``params``: the formula with numbers.

        Returns:
            The lines of the explanation, or None if ``text`` names none of these
            (then :meth:`explain_ref` applies).

        Raises:
            NnlabError: An unknown name.
        """
        from nnlab.check import learn_names, visible_names
        from nnlab.scenario.refs import RefError, RefKind, atom

        try:
            ref = atom(parse_expr(text, qualified=self.training is not None))
        except (RefError, NnlabError):
            return None
        if ref is None or ref.kind not in (RefKind.SHAPE, RefKind.SIZE, RefKind.PARAMS) or ref.at is not None:
            return None
        run = self.run
        if ref.kind is RefKind.PARAMS:
            names = learn_names(run)
            if not names:
                raise NnlabError("'params' counts the learnable parameters, but the scenario has no learn: list",
                                 hint="add `learn: [W1, b1, …]`.")
            sizes = [(n, run.value(n).shape) for n in names]
            terms = [("·".join(str(d) for d in shape) or "1") for _, shape in sizes]
            total = sum(int(np.prod(shape)) for _, shape in sizes)
            lines = [f"params = {' + '.join(f'size({n})' for n, _ in sizes)}",
                     f"params = {' + '.join(terms)} = {total}"]
            lines += [f"  {n}: shape {'×'.join(map(str, shape)) or '()'} → {int(np.prod(shape))}"
                      for n, shape in sizes]
            return lines
        name = ref.name
        if name not in run.graph.nodes or not run.graph.nodes[name].named:
            raise NnlabError(f"unknown name '{name}'", hint=did_you_mean(name, visible_names(run)))
        node = run.graph.nodes[name]
        shape = tuple(run.value(name).shape[1:] if node.batched and run.batch_axis else node.shape)
        lines = []
        if node.kind == "op":
            rule = node.op.shape_rule(*[run.graph.nodes[i].shape if i else None for i in node.op_inputs])
            st = run.step_of(name, FORWARD)
            where = f"step {st.index + 1} ({st.label})" if st is not None else node.text
            lines.append(f"{name} is computed at {where}")
            if rule:
                lines.extend(f"  {part}" for part in rule.split("; "))
            else:
                ins = ", ".join(f"{run.graph.display(i)}: {'×'.join(map(str, run.graph.nodes[i].shape)) or '()'}"
                                for i in node.inputs if run.graph.nodes[i].kind != "const")
                lines.append(f"  {node.op.name} of {ins}")
        else:
            lines.append(f"{name} is given in {'data' if node.kind == 'data' else 'values'}")
        dims = "×".join(map(str, shape)) or "() (a single number)"
        if ref.kind is RefKind.SHAPE:
            lines.append(f"shape({name}) = {list(shape)}  ({dims})")
        else:
            size = int(np.prod(shape)) if shape else 1
            lines.append(f"size({name}) = {' · '.join(map(str, shape)) or '1'} = {size}")
        return lines

    def ref_context(self, ref: str) -> tuple[Run, str, str | None]:
        """Where :meth:`explain_ref` evaluates ``ref``.

        Returns:
            The run, the reference without its ``epoch(k).``/``update(k).`` prefix, and
            a description of the parameters and example used (None when there is no
            training and no data).
        """
        el = self._element(ref)
        return el.run, el.plain, el.context

    def _element(self, text: str) -> _Element:
        from nnlab.check import visible_names
        from nnlab.scenario.refs import RefKind

        ref, run, context = self._read(text)
        if not ref.is_element:
            raise NnlabError(f"explain needs one element, not a slice: {text}")
        if ref.kind not in (RefKind.VALUE, RefKind.GRAD):
            raise NnlabError(f"cannot explain '{text}'", hint=self._explain_hint())
        grad = ref.kind is RefKind.GRAD
        name = ref.name
        if name not in run.graph.nodes:
            raise NnlabError(f"unknown name '{name}'" + (f" in {text}" if grad else ""),
                             hint=did_you_mean(name, visible_names(run)))
        example, index = _example(run, name, ref.index, text)
        if run.graph.nodes[name].batched and run.batch > 1:
            where = f"example {example} of {run.batch}"
            context = f"{context}; {where}" if context else where
        return _Element(run, ref.plain, context, grad, name, index, example)

    def _explain_hint(self) -> str:
        hint = "use NAME, NAME[i, j] or grad(NAME)[i, j]"
        if self.training is not None:
            hint += ", optionally after epoch(k). or update(k)."
        return hint + "."

    def _read(self, text: str) -> tuple[Ref, Run, str | None]:
        """Parse a reference to explain; pick the run its training prefix names, and say which."""
        from nnlab.scenario.refs import RefError, atom

        tr = self.training
        try:
            ref = atom(parse_expr(text, qualified=tr is not None))
        except RefError as exc:
            raise NnlabError(f"cannot explain '{text}': {exc.message}", hint=exc.hint) from None
        if ref is None:
            raise NnlabError(f"cannot explain '{text}'", hint=self._explain_hint())
        if tr is None:
            return ref, self.run, None
        examples = f"all {self.run.batch} examples"
        if ref.at is None:
            return ref, self.run, (f"the final parameters (after epoch {tr.epochs}, update "
                                   f"{len(tr.records)}), on {examples}")
        try:
            k = self._updates(ref.at)
        except ValueError as exc:
            raise NnlabError(f"cannot explain '{text}': {exc}") from None
        if k == 0:
            context = f"the starting parameters, on {examples}"
        elif ref.at.unit == "epoch":
            context = f"the parameters after epoch {ref.at.k} (update {k}), on {examples}"
        else:
            context = f"the parameters after update {k} (epoch {tr.records[k - 1].epoch}), on {examples}"
        return ref, tr.run_at(k, None, target=tr.loss_target), context

    def _updates(self, snapshot: Snapshot) -> int:
        """How many updates had been made at ``epoch(k)``/``update(k)``.

        Raises:
            ValueError: k out of range (the message says which).
        """
        tr = self.training
        k = snapshot.k
        if snapshot.unit == "epoch":
            if not 0 <= k <= tr.epochs:
                raise ValueError(f"epoch({k}) is out of range: training ran {tr.epochs} epoch(s)")
            return tr.epoch_end[k]
        if not 0 <= k <= len(tr.records):
            raise ValueError(f"update({k}) is out of range: training made {len(tr.records)} update(s)")
        return k


def error_kind(exc: NnlabError) -> str:
    """What ``expect: {error: …}`` calls the kind of ``exc``: ``shape``, ``domain``, or nnlab's own kind."""
    return next((name for name, kinds in ERROR_KINDS.items() if exc.kind in kinds), exc.kind)


def _with_error_item(report: CheckReport, expected: ExpectedError, failure: NnlabError | None) -> CheckReport:
    """The report with the ``error:`` answer in its place: right when the run failed with that kind."""
    from nnlab.check import CheckReport

    items = list(report.items)
    items.insert(min(expected.position, len(items)), error_item(expected.kind, failure, expected.loc))
    return CheckReport(tuple(items))


ERROR_MEANS = {"shape": "shapes that do not fit: the line cannot be computed at all",
               "domain": "a value outside an operation's domain (log of 0, a division by 0, an overflow): "
                         "a NaN or an infinity appears"}
"""What each kind of ``expect: {error: …}`` means, for the line under a wrong answer."""
NO_ERROR_MEANS = {"shape": "every line's shapes fit", "domain": "every value stays finite (no log of 0, "
                  "no division by 0, no overflow)"}
"""What a run that succeeds shows, for each kind of error it was expected to stop with."""


def error_item(kind: str, failure: NnlabError | None, loc: Any = None) -> CheckItem:
    """The answer ``error: KIND`` checked against how the run ended (``failure``: None if it succeeded).

    The computed value says what happened: ``shape error (line 25): …`` or ``no error: …``.
    """
    from nnlab.check import CheckItem

    if failure is None:
        return CheckItem("error", kind, kind, "no error: the run succeeded", False, None, None, "", loc)
    got = error_kind(failure)
    where = f" (line {failure.loc.line})" if failure.loc is not None and failure.loc.line else ""
    return CheckItem("error", kind, kind, f"{got} error{where}: {failure.message}", got == kind, None, None, "",
                     loc)


def error_reason(kind: str, failure: NnlabError | None) -> str:
    """Why ``error: KIND`` is wrong for a run that ended with ``failure`` (``""`` when it is right)."""
    if failure is None:
        return f"the run succeeds: {NO_ERROR_MEANS.get(kind, 'no line fails')}, so there is no {kind} error"
    got = error_kind(failure)
    if got == kind:
        return ""
    return f"the run stops with a {got} error, not a {kind} error" + (f" — {ERROR_MEANS[got]}" if got in ERROR_MEANS
                                                                       else "")


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
        raise NnlabError(f"{ref}: give {len(shape)} indices for shape {shape}",
                         hint=f"e.g. [{', '.join('0' * len(shape))}].")
    for i, n in zip(index, shape):
        if not -n <= i < n:
            raise NnlabError(f"{ref}: index {i} is out of range for shape {shape}")
    return tuple(int(i) % n for i, n in zip(index, shape))


SHAPES = ("fallback", "prefer", "never")
"""When :func:`open_session` answers a shape question (every ``expect`` reference a ``shape(…)``,
``size(…)`` or ``params``) from shapes alone, computing no value:

* ``prefer`` — always (``nnlab check``: the answers are the same, the work is none);
* ``fallback`` — only when computing the values would be refused (over the element limit or
  the memory budget: VGG-16's 138 million parameters); otherwise values are computed to be shown;
* ``never`` — compute, or report the limit."""


def open_session(path: str, *, max_elements: int | None = None, shapes: str = "fallback") -> Session:
    """Load a scenario file and run (or train) it.

    Args:
        path: The scenario file.
        max_elements: The largest tensor (None: the file's ``options.max_elements``, else the default).
        shapes: When a shape question is answered from shapes alone (see :data:`SHAPES`).
    """
    scenario = load(path, max_elements=max_elements, shapes_only=shapes == "prefer",
                    shapes_fallback=shapes == "fallback")
    return run_or_shapes(scenario, max_elements) if shapes == "fallback" else session_from_scenario(scenario)


def run_or_shapes(scenario: Scenario, max_elements: int | None = None) -> Session:
    """:func:`session_from_scenario`, or for a shape question whose computation would be refused
    (a result over the element limit, or the memory budget) the shape-only session (``fallback``).

    Args:
        scenario: The scenario, loaded with ``max_elements``.
        max_elements: As given to :func:`~nnlab.scenario.load` (None: the file's own limit);
            the shape-only reading is loaded with it again.
    """
    try:
        return session_from_scenario(scenario)
    except NnlabError as exc:
        if exc.kind != "size" or scenario.shape_only:
            raise
        shapes = loads(scenario.text, scenario.path, max_elements=max_elements, shapes_only=True)
        if not shapes.shape_only:
            raise
        return session_from_scenario(shapes)


def session_from_scenario(scenario: Scenario) -> Session:
    """Run (or train) an already-loaded scenario.

    A scenario loaded for shapes only (:attr:`Scenario.shape_only`) gets a shape-only run. A
    scenario that expects an error (``expect: {error: shape}``) and fails with it gets the
    session of the lines before the failing one, with the error as :attr:`Session.failure`.
    """
    try:
        return _session(scenario)
    except NnlabError as exc:
        if scenario.expect_error is None:
            raise
        return _failed_session(scenario, exc)


def _session(scenario: Scenario) -> Session:
    if scenario.shape_only:
        from nnlab.engine.graph import build_graph
        from nnlab.engine.shapes import shape_run

        return Session(scenario, shape_run(build_graph(scenario)))
    if scenario.train is None:
        return Session(scenario, run_scenario(scenario))
    from nnlab.engine.train import TrainSteps
    from nnlab.engine.train_cache import cached_train

    tr = cached_train(scenario)  # a training checked before is read back, not run again
    final = tr.run_at(len(tr.snapshots) - 1, None, target=tr.loss_target)
    return Session(scenario, final, tr, TrainSteps(tr))


def _failing_line(scenario: Scenario, exc: NnlabError) -> int | None:
    """The index of the compute line ``exc`` is located on (None: on none of them)."""
    line = exc.loc.line if exc.loc is not None else 0
    return next((i for i, eq in enumerate(scenario.equations) if line and eq.loc.line == line), None)


def _failed_session(scenario: Scenario, exc: NnlabError) -> Session:
    """The session of the compute lines before the one that failed (no training, no backward unless it
    names one of them), holding the failure; a failure on no compute line keeps every line's forward pass."""
    failing = _failing_line(scenario, exc)
    equations = scenario.equations[:failing] if failing is not None else scenario.equations
    names = {eq.name for eq in equations}
    before = scenario._replace(equations=equations, train=None, train_node=None, expect_error=None,
                     backward=scenario.backward if scenario.backward in names else None)
    try:
        session = _session(before)
    except NnlabError:  # it fails before any line (e.g. while training): no steps to show
        session = _session(before._replace(equations=(), backward=None))
    return session._replace(scenario=scenario, failure=exc)


__all__ = ["Session", "open_session", "session_from_scenario"]
