"""The check screen: your ``expect:`` answers against the computed values, editable in place.

Each answer is an input; every keystroke re-checks that answer against the current
run at once (``sigmoid(2) - 1`` is fine). Then all answers are checked together with
:meth:`Session.check <nnlab.session.Session.check>` — follow-through marking and the
misconception catalog — in a thread worker, and each row gets its "why" line
(``why (sign-flipped): …``) or ``✓ via …`` for an answer right for the user's own
earlier answers; the screen never waits for it. Enter jumps to the step where that
value is computed; ctrl+f to the first independent wrong one; ctrl+s writes the
answers you changed back into the file (:mod:`nnlab.tui.answers`). What you typed is
kept on the lab screen, so a reload (the file changed on disk) never loses it.

Answers are not given away: a bundled scenario's answers (they are right) and a
practice exercise's ``?`` answers start hidden — an empty cell, and the computed
value shown only once the typed answer is right — until ctrl+r reveals the worked
answers and the scenario's ``solution:``.

A scenario meant to fail (``expect: {error: shape}``) has a row for that answer too:
the computed column says how the run ended (``shape error (line 25)``, or ``no error``),
the line under it the engine's message, and Enter goes to the failed line in the lab.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from nnlab.errors import NnlabError
from nnlab.tui.widgets.panes import KeyBar


def show_value(v: Any, digits: int = 6) -> str:
    """A computed value in one line (lists shortened)."""
    import numpy as np

    from nnlab.numfmt import fmt

    if v is None:
        return "—"
    a = np.asarray(v)
    if a.dtype == bool:
        return str(bool(a.reshape(-1)[0])).lower() if a.size == 1 else str(a.tolist())
    if a.ndim == 0:
        return fmt(a.item(), digits)

    def nest(x: Any) -> str:
        if isinstance(x, list):
            return "[" + ", ".join(nest(i) for i in x) + "]"
        return fmt(x, digits)

    if a.size > 12:
        flat = [fmt(x, digits) for x in a.reshape(-1)[:8].tolist()]
        return "[" + ", ".join(flat) + ", …] " + "×".join(str(s) for s in a.shape)
    return nest(a.tolist())


def element_marks(item: Any, entry: Any) -> list[tuple[tuple[int, ...], bool]]:
    """``(index, ok)`` per element of a wrong list answer (empty for a single number or another shape)."""
    import numpy as np

    from nnlab.check import compare

    if item.ok or item.error is not None or item.actual is None or isinstance(item.expected_value, bool):
        return []
    try:
        a = np.asarray(item.actual, dtype=float)
        x = np.asarray(item.expected_value, dtype=float)
    except (TypeError, ValueError):
        return []
    if a.shape != x.shape or a.size < 2:
        return []
    tol = np.broadcast_to(np.asarray(entry.abs_tol, dtype=float), x.shape)
    return [(tuple(int(i) for i in ix), compare(a[ix], x[ix], tol[ix], entry.rel_tol)) for ix in np.ndindex(x.shape)]


def why_text(item: Any, steps: Any, pending: bool = False,
             marks: list[tuple[tuple[int, ...], bool]] | None = None) -> Text:
    """The line(s) under a row: why a ✗ is what it is, or ``✓ via …`` (empty when there is nothing to say).

    Args:
        item: The row's :class:`~nnlab.check.CheckItem`.
        steps: The run's steps (a finding's step is shown 1-based, as in the lab).
        pending: The diagnosis of all answers is still running.
    """
    text = Text()
    if item.ok:
        if item.via:
            text.append(f"✓ via {', '.join(item.via)}", style="bold")
            text.append(f": right for your own {', '.join(item.via)} (follow-through; tolerance {item.tolerance})")
        return text
    if item.error is not None:
        return text
    if marks:
        text.append("elements: ")
        for ix, ok in marks[:12]:
            text.append(f"[{', '.join(map(str, ix))}] ")
            text.append("✓ " if ok else "✗ ", style="bold green" if ok else "bold red")
        if len(marks) > 12:
            text.append(f"… ({sum(not ok for _, ok in marks)} of {len(marks)} wrong)")
        text.append("— enter goes to the first wrong one\n")
    if pending:
        text.append("why: looking for a known mistake …", style="italic")
        return text
    for f in item.diagnosis:
        if text:
            text.append("\n")
        text.append(f"why ({f.id})", style="bold")
        text.append(f": {f.message}")
        if f.step is not None and f.step < len(steps):
            text.append(f" [step {f.step + 1}]")
    if not item.diagnosis:
        text.append(f"why: no known mistake reproduces this answer (tolerance {item.tolerance or 'exact'})")
    return text


def error_answer(text: str) -> str:
    """The kind of error an ``error:`` answer names: ``shape`` or ``domain`` (``Shape error`` too).

    Raises:
        NnlabError: The text names no kind (a half-typed answer).
    """
    from nnlab.scenario.model import ERROR_KINDS

    kind = " ".join(text.lower().split()).removesuffix("error").strip()
    if kind not in ERROR_KINDS:
        raise NnlabError(f"type {' or '.join(ERROR_KINDS)}")
    return kind


def error_why(item: Any, failure: Any, hidden: bool) -> Text:
    """The line(s) under the ``error`` row: why a ✗ is one, and the engine's message for the run's error.

    Args:
        item: The row's :class:`~nnlab.check.CheckItem` (``Session.check_error``).
        failure: The error the run stopped with (None if it succeeded).
        hidden: The answer is hidden: a wrong one learns only that the run does not end so.
    """
    from nnlab.session import error_reason

    text = Text()
    if not item.ok:
        text.append("why", style="bold")
        text.append(f": the run does not stop with a {item.expected} error (ctrl+r reveals how it ends)" if hidden
                    else f": {error_reason(item.expected, failure)}")
        if hidden or failure is None:
            return text
        text.append("\n")
    if failure is not None:
        text.append(failure.message)
    return text


class CheckRow(Horizontal, can_focus=False):
    """One expect entry: reference, your (editable) answer, computed value, ✓/✗."""

    def __init__(self, k: int, ref: str, answer: str, expects_error: bool = False, **kwargs: Any) -> None:
        super().__init__(classes="check-row", **kwargs)
        self.k = k
        self.ref = ref
        self.expects_error = expects_error
        """The row of ``expect: {error: …}`` (not an ``ExpectEntry``: its answer is a kind of error)."""
        self.ref_label = Static(Text(ref), classes="check-ref", markup=False)
        self.input = Input(answer, compact=True, classes="check-answer", id=f"answer-{k}",
                           select_on_focus=False)
        self.computed = Static("", classes="check-computed", markup=False)
        self.mark = Static("", classes="check-mark", markup=False)
        self.checked: str | None = None
        """The text the current verdict is for (an Input.Changed for the same text is no news)."""
        self.why = Static("", classes="check-why", id=f"why-{k}", markup=False)
        """The diagnosis under the row (a sibling in the list, shown only when it says something)."""

    def compose(self) -> ComposeResult:
        """Four cells."""
        yield self.ref_label
        yield self.input
        yield self.computed
        yield self.mark


class CheckScreen(Screen[int | None]):
    """Check (and correct) the scenario's expect answers.

    Args:
        lab: The lab screen: its model is the run to check against and its
            ``answers`` dict keeps typed text across reloads.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+f", "first_wrong", "First wrong step", key_display="^f"),
        Binding("ctrl+s", "save", "Save answers", key_display="^s"),
        Binding("ctrl+r", "reveal", "Reveal answers", key_display="^r"),
        Binding("down", "move(1)", "Next answer", show=False),
        Binding("up", "move(-1)", "Previous answer", show=False),
    ]

    def __init__(self, lab: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lab = lab
        self.items: dict[int, Any] = {}
        self._model: Any = None
        self.rows: list[CheckRow] = []
        self._moving_to: Any = None  # the answer a ↑/↓ focused, until Textual applies the focus
        self.entries: dict[int, Any] = {}
        """Row → the entry its typed text makes (rows whose text cannot be read are missing)."""
        self.kinds: dict[int, str] = {}
        """The ``error`` row → the kind of error its typed text names (when it names one)."""
        self.diagnosing = False
        """A check of all answers (follow-through, diagnosis) is running."""
        self._generation = 0
        self.base: dict[str, str] = {}
        """ref → the answer as the file had it when the screen opened (what a save compares with)."""
        self.hidden: set[str] = set()
        """References whose answer and computed value are hidden until answered right or revealed."""
        self.revealed = False

    @property
    def model(self) -> Any:
        """The lab's current model (it changes when the file is reloaded)."""
        return self.lab.model

    def compose(self) -> ComposeResult:
        """Title, header, one row per entry, summary, footer."""
        m = self.model
        yield Static(Text(f"check answers — {m.title}", style="bold"), id="check-title", markup=False)
        with Horizontal(classes="check-row check-head"):
            for name, cls in (("reference", "check-ref"), ("your answer", "check-answer-head"),
                              ("computed", "check-computed"), ("", "check-mark")):
                yield Static(Text(name), classes=cls, markup=False)
        with VerticalScroll(id="check-list"):
            from nnlab.tui.answers import answer_text, answer_texts, is_bundled

            texts = answer_texts(self.lab.path)  # the file is parsed once, not once per answer
            bases = self._typed_bases()
            bundled = is_bundled(self.lab.path)
            answers = [(entry.ref, answer_text(entry, texts)) for entry in m.scenario.expect]
            error = m.scenario.expect_error
            if error is not None:  # expect: {error: shape}, in its place among the answers
                answers.insert(min(error.position, len(answers)), (None, texts.get("error", error.kind)))
            for k, (ref, written) in enumerate(answers):
                expects_error, ref = ref is None, ref or "error"
                self.base[ref] = bases.get(ref, written)
                typed = self.lab.answers.get(ref)
                if bundled or self.base[ref].strip() == "?":
                    self.hidden.add(ref)
                shown = "" if ref in self.hidden else self.base[ref]
                row = CheckRow(k, ref, typed if typed is not None else shown, expects_error)
                self.rows.append(row)
                yield row
                yield row.why
            if not answers:
                yield Static(Text("this scenario has no expect: entries"), classes="check-empty")
        yield Static("", id="check-summary", markup=False)
        yield Static("", id="check-solution", markup=False)
        yield KeyBar()

    def _typed_bases(self) -> dict[str, str]:
        """ref → the file's answer when the user started typing over it (kept on the lab, like the typed text)."""
        bases = getattr(self.lab, "answer_bases", None)
        if bases is None:
            bases = {}
            self.lab.answer_bases = bases
        return bases

    def on_mount(self) -> None:
        """Check every answer and focus the first one."""
        self.query_one("#check-solution").display = False
        for row in self.rows:
            kinds = "shape or domain " if row.expects_error else ""  # what an error: answer can be
            row.input.placeholder = (f"?  {kinds}(^r)" if kinds else "?  (^r reveals)") if row.ref in self.hidden \
                else kinds.strip()
        self._model = self.model
        if self.app.is_headless:  # a blinking cursor would make screenshots flaky
            for row in self.rows:
                row.input.cursor_blink = False
        self.check_all()
        if self.rows:
            self.rows[0].input.focus()
        self.set_interval(0.5, self._follow_reload)

    def _follow_reload(self) -> None:
        """The lab reloaded the file: re-check everything against the new run."""
        if self.model is not self._model:
            self._model = self.model
            self.check_all()

    def check_all(self) -> None:
        """Check every row at once (one ``Session.check``), then diagnose in a worker."""
        for row in self.rows:
            self._read_row(row)
        rows = [r for r in self.rows if r.k in self.entries]
        report = self.model.session.check(tuple(self.entries[r.k] for r in rows), diagnose=False)
        for row, item in zip(rows, report.items):
            self._show(row, item)
        for row in self.rows:
            if row.k in self.kinds:
                self._show(row, self._check_error(row))
        self._diagnose_all()

    def _check_error(self, row: CheckRow) -> Any:
        """The ``error`` row's verdict; Enter (and ctrl+f) on it go to the failed line."""
        return self.model.session.check_error(self.kinds[row.k])._replace(step=self.model.failure_step)

    def _diagnose_all(self, delay: float = 0.0) -> None:
        """Start (or restart) the follow-through and misconception check of all rows."""
        self._generation += 1
        rows = [r for r in self.rows if r.k in self.entries]
        wrong = any(r.k in self.items and not self.items[r.k].ok for r in rows)
        self.diagnosing = wrong
        for row in self.rows:
            if row.k in self.items:
                self._show(row, self.items[row.k])
        self.summarize()
        if wrong:
            self._diagnose(self._generation, self.model, [(r.k, self.entries[r.k]) for r in rows], delay)

    @work(thread=True, exclusive=True, exit_on_error=False, group="diagnose")
    def _diagnose(self, generation: int, model: Any, entries: list[tuple[int, Any]], delay: float) -> Any:
        """``Session.check`` of all readable answers, off the UI thread (a newer keystroke cancels it)."""
        if delay:
            time.sleep(delay)  # typing: wait for a pause
        if get_current_worker().is_cancelled:
            return None
        report = model.session.check(tuple(e for _, e in entries))
        return generation, model, [k for k, _ in entries], report

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show the diagnosis of the latest check; an error becomes a notification."""
        if event.worker.group != "diagnose":
            return
        if event.state == WorkerState.SUCCESS and event.worker.result is not None:
            generation, model, ks, report = event.worker.result
            if generation != self._generation or model is not self.model:
                return  # stale: the answers or the file changed meanwhile
            self.diagnosing = False
            rows = {r.k: r for r in self.rows}
            for k, item in zip(ks, report.items):
                self._show(rows[k], item)
            self.summarize()
        elif event.state == WorkerState.ERROR:
            self.diagnosing = False
            self.notify(f"could not diagnose the answers: {event.worker.error}", severity="error")
            for row in self.rows:
                if row.k in self.items:
                    self._show(row, self.items[row.k])
            self.summarize()

    def _entry(self, row: CheckRow) -> Any:
        if row.expects_error:
            return self.model.scenario.expect_error
        entries = self.model.scenario.expect
        for e in entries:
            if e.ref == row.ref:
                return e
        return None

    def _read_row(self, row: CheckRow) -> bool:
        """Read ``row``'s typed text into ``self.entries``; an unreadable one shows why. True if readable."""
        from nnlab.tui.answers import parse_answer

        entry = self._entry(row)
        row.checked = row.input.value
        self.entries.pop(row.k, None)
        self.kinds.pop(row.k, None)
        if entry is not None and self._is_hidden(row) and not row.input.value.strip():
            self.items.pop(row.k, None)
            row.computed.update(Text("hidden", style="italic"))
            row.mark.update(Text("?"))
            row.set_class(False, "-ok")
            row.set_class(False, "-wrong")
            row.why.update("")
            row.why.display = False
            return False
        if entry is None:
            self.items.pop(row.k, None)
            row.computed.update(Text("(not in the file any more)"))
            row.mark.update("")
            row.why.update("")
            row.why.display = False
            return False
        try:
            if row.expects_error:
                self.kinds[row.k] = error_answer(row.input.value)
            else:
                self.entries[row.k] = parse_answer(row.input.value, entry)
        except NnlabError as exc:  # a half-typed answer is normal
            self.items.pop(row.k, None)
            row.computed.update(Text(exc.message, style="italic"))
            row.mark.update(Text("…"))
            row.set_class(False, "-ok")
            row.set_class(False, "-wrong")
            row.why.update("")
            row.why.display = False
            return False
        return True

    def _show(self, row: CheckRow, item: Any) -> None:
        """Show a verdict (and its why line) on ``row``."""
        self.items[row.k] = item
        if row.expects_error:
            self._show_error(row, item)
            return
        computed = show_value(item.actual) if item.error is None else item.error
        if item.unanswered or (self._is_hidden(row) and not item.ok and item.error is None):
            computed = "hidden until right"
        row.computed.update(Text(computed))
        row.mark.update(Text("?" if item.unanswered else "✓" if item.ok else "✗"))
        row.set_class(item.ok, "-ok")
        row.set_class(not item.ok, "-wrong")
        entry = self.entries.get(row.k)
        marks = element_marks(item, entry) if entry is not None else []
        why = why_text(item, self.model.steps, pending=self.diagnosing and not item.diagnosis, marks=marks)
        row.why.update(why)
        row.why.display = bool(why.plain)
        row.why.set_class(item.ok, "-via")

    def _show_error(self, row: CheckRow, item: Any) -> None:
        """The ``error`` row: how the run ended (kind and line), the engine's message under it."""
        hidden = self._is_hidden(row) and not item.ok
        failure = self.model.failure
        row.computed.update(Text("hidden until right" if hidden else item.actual.partition(": ")[0]))
        row.mark.update(Text("✓" if item.ok else "✗"))
        row.set_class(item.ok, "-ok")
        row.set_class(not item.ok, "-wrong")
        why = error_why(item, failure, hidden)
        row.why.update(why)
        row.why.display = bool(why.plain)
        row.why.set_class(False, "-via")
        row.why.set_class(item.ok, "-message")

    def recheck(self, row: CheckRow) -> None:
        """Check ``row``'s typed answer at once; all rows are re-diagnosed together shortly after."""
        if self._read_row(row):
            if row.expects_error:
                self._show(row, self._check_error(row))
                return
            self._show(row, self.model.check_entry(self.entries[row.k]))

    def summarize(self) -> None:
        """The line under the table: how many match, and where the first mistake is."""
        summary = self.query_one("#check-summary", Static)
        items = [self.items[r.k] for r in self.rows if r.k in self.items]
        if not self.rows:
            summary.update(Text(""))
            return
        wrong = [i for i in items if not i.ok and not i.unanswered]
        pending = len(self.rows) - len(items) + sum(i.unanswered for i in items)
        right = len(items) - len(wrong) - sum(i.unanswered for i in items)
        if not wrong and not pending:
            summary.update(Text(f"all {len(items)} answers match ✓" if len(items) != 1 else "the answer matches ✓",
                                style="bold green"))
            return
        if not wrong:
            summary.update(Text(f"{right} right, {pending} to answer", style="bold")
                           + Text("  (ctrl+r reveals the worked answers)" if self.hidden and not self.revealed else ""))
            return
        first = self.first_wrong()
        carried = sum(i.carried for i in wrong)
        text = Text(f"{len(wrong)} of {len(self.rows)} answers differ", style="bold red")
        if carried:
            text.append(f" ({carried} carried from an earlier one)", style="bold red")
        if pending:
            text.append(f", {pending} not answered yet", style="bold")
        if self.diagnosing:
            text.append("; looking for known mistakes …", style="italic")
        if first is not None:
            where = ""
            step = _step(first)
            if step is not None and step < len(self.model.steps):
                st = self.model.steps[step]
                where = f" — step {step + 1} ({st.phase}: {st.label}); ctrl+f goes there"
            elif step is not None and step == self.model.failure_step:
                where = f" — step {step + 1} (the failed line: {self.model.failure_title}); ctrl+f goes there"
            kind = "first independent mistake" if carried else "first mistake"
            text.append(f"; {kind}: {first.ref}{where}")
        summary.update(text)

    def first_wrong(self) -> Any:
        """The independent wrong answer (not carried from an earlier one) that becomes known earliest."""
        wrong = [(self.items[r.k], r.k) for r in self.rows
                 if r.k in self.items and not self.items[r.k].ok and not self.items[r.k].unanswered]
        if not wrong:
            return None
        wrong = [p for p in wrong if not p[0].carried] or wrong
        return min(wrong, key=lambda p: (_step(p[0]) if _step(p[0]) is not None else 10**9, p[1]))[0]

    @on(Input.Changed, ".check-answer")
    def recheck_typed(self, event: Input.Changed) -> None:
        """Re-check as the user types; remember the text on the lab screen."""
        row = event.input.parent
        if isinstance(row, CheckRow):
            if event.value == row.checked:  # e.g. the Changed every input posts when it mounts
                return
            self.lab.answers[row.ref] = event.value  # only what the user typed: the rest follows the file
            self._typed_bases().setdefault(row.ref, self.base.get(row.ref, ""))
            self.recheck(row)
            self._diagnose_all(delay=0.15)

    @on(Input.Submitted, ".check-answer")
    def jump_to_entry_step(self, event: Input.Submitted) -> None:
        """Enter: go to the step where this value is computed."""
        row = event.input.parent
        item = self.items.get(row.k) if isinstance(row, CheckRow) else None
        if item is not None and _step(item) is not None:
            element = self._wrong_element(row, item)
            if element is not None:  # a list answer: its first wrong element, in the step that computes it
                self.lab.goto(_step(item), element)
                self.dismiss(None)
                return
            self.dismiss(_step(item))
        else:
            self.notify("this reference is not computed by a single step", severity="warning")

    def _wrong_element(self, row: CheckRow, item: Any) -> int | None:
        """The lab's element number of the first wrong element of a whole-node list answer (``z1``, ``grad(W1)``)."""
        import re

        entry = self.entries.get(row.k)
        wrong = [ix for ix, ok in (element_marks(item, entry) if entry is not None else []) if not ok]
        m = re.fullmatch(r"\s*(grad\(\s*)?([A-Za-z_]\w*)\s*(\))?\s*", item.ref)
        if not wrong or m is None or bool(m.group(1)) != bool(m.group(3)) or item.step is None:
            return None
        name, grad, step = m.group(2), bool(m.group(1)), item.step
        st = self.model.steps[step]
        for k in range(self.model.element_count(step)):
            slot, index = self.model.element_at(step, k)
            if tuple(index) != wrong[0]:
                continue
            if not grad or (0 <= slot < len(st.inputs) and st.inputs[slot] == name):
                return k
        return None

    def action_first_wrong(self) -> None:
        """Jump to the first step whose value was answered wrongly."""
        first = self.first_wrong()
        if first is None:
            self.notify("no wrong answers", timeout=2)
            return
        if _step(first) is None:
            self.notify(f"{first.ref} is not tied to a step", severity="warning")
            return
        self.dismiss(_step(first))

    def _is_hidden(self, row: CheckRow) -> bool:
        return row.ref in self.hidden and not self.revealed

    def action_reveal(self) -> None:
        """Show the worked answers: the file's answers in the empty cells, every computed value, the solution."""
        self.revealed = True
        for row in self.rows:
            if row.ref in self.hidden and not row.input.value.strip() and self.base.get(row.ref, "?").strip() != "?":
                row.input.value = self.base[row.ref]
        solution = self.model.scenario.solution.strip()
        panel = self.query_one("#check-solution", Static)
        panel.update(Text("solution\n", style="bold") + Text(solution) if solution else Text(""))
        panel.display = bool(solution)
        self.check_all()

    def action_save(self) -> None:
        """Write the answers you changed into the file's expect: block (as it is on disk now)."""
        answers = {r.ref: r.input.value for r in self.rows
                   if r.input.value != self.base.get(r.ref) and r.input.value.strip()}  # an empty cell: not answered
        for row in self.rows:
            if row.expects_error and row.ref in answers:  # written as the bare kind: error: shape
                try:
                    answers[row.ref] = error_answer(answers[row.ref])
                except NnlabError as exc:
                    self.notify(f"not saved: the answer for error cannot be read ({exc.message})",
                                severity="error", timeout=10)
                    return
        self._save(answers)

    def _save(self, answers: dict[str, str], overwrite: tuple[str, ...] = ()) -> None:
        import yaml

        from nnlab.tui.answers import SaveRefused, save_answers

        entries = {e.ref: e for e in self.model.scenario.expect}
        try:
            saved = save_answers(self.lab.path, answers, self.base, entries, overwrite=overwrite)
        except SaveRefused as exc:
            if exc.conflicts:
                self._ask_about(exc.on_disk, answers)
            else:
                self.notify(exc.message, severity="error", timeout=10)
            return
        except (OSError, UnicodeError, yaml.YAMLError) as exc:
            self.notify(f"could not save: {exc}", severity="error")
            return
        if not saved:
            self.notify("nothing to save: the file already has these answers", timeout=2)
            return
        for ref in answers:  # the file has them now
            self.base[ref] = answers[ref]
            self.lab.answers.pop(ref, None)
            self._typed_bases().pop(ref, None)
        count = f"{len(saved)} answer{'s' if len(saved) != 1 else ''}"
        if saved.copied:  # from now on the lab (and the next save) work on the copy
            self.notify(f"bundled scenarios are not edited: saved {count} to a copy, {saved.path} "
                        "(the lab now follows the copy)", timeout=8)
            self.lab.path = saved.path
            self.lab.reload()
            return
        self.notify(f"saved {count} to {self.lab.path}", timeout=3)
        self.lab.reload()

    def _ask_about(self, on_disk: dict[str, str], answers: dict[str, str]) -> None:
        """A conflict: ask whether the user's answers or the file's win (nothing is written meanwhile)."""
        from nnlab.tui.screens.conflict import ConflictScreen

        def decided(choice: str | None) -> None:
            if choice == "mine":
                self._save(answers, overwrite=tuple(on_disk))
            elif choice == "file":
                for row in self.rows:  # show the file's answers, and save only the others
                    if row.ref in on_disk:
                        row.input.value = self.base[row.ref] = on_disk[row.ref]
                        self.lab.answers.pop(row.ref, None)
                        self._typed_bases().pop(row.ref, None)
                rest = {ref: text for ref, text in answers.items() if ref not in on_disk}
                if rest:
                    self._save(rest)
                else:
                    self.notify("kept the file's answers; nothing else to save", timeout=3)
            else:
                self.notify("not saved", timeout=2)

        self.app.push_screen(ConflictScreen(on_disk, {ref: answers[ref] for ref in on_disk}), decided)

    def action_move(self, delta: int) -> None:
        """Focus the next/previous answer."""
        # focus() is applied a tick later: held or fast ↓ presses count from the answer already asked for
        focused = self._moving_to or self.focused
        ks = [r.input for r in self.rows]
        if not ks:
            return
        k = ks.index(focused) if focused in ks else -1
        self._moving_to = ks[max(0, min(len(ks) - 1, k + delta))]
        self._moving_to.focus()

    def on_descendant_focus(self, event: Any) -> None:
        """The focus asked for by ↑/↓ has arrived (or the user clicked elsewhere)."""
        if event.widget is self._moving_to or event.widget not in [r.input for r in self.rows]:
            self._moving_to = None

    def action_back(self) -> None:
        """Back to the lab (typed answers are kept)."""
        self.dismiss(None)


def _step(item: Any) -> int | None:
    """The step an answer belongs to; for one with no step of its own (a shape), where its mistake starts."""
    if item.step is not None:
        return item.step
    return next((f.step for f in item.diagnosis if f.step is not None), None)
