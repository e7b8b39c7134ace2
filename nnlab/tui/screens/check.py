"""The check screen: your ``expect:`` answers against the computed values, editable in place.

Each answer is an input; every keystroke re-checks that answer against the current
run (``sigmoid(2) - 1`` is fine). Enter jumps to the step where that value is
computed; ctrl+f to the first wrong one; ctrl+s writes the typed answers back into
the file's ``expect:`` block, touching nothing else. What you typed is kept on the
lab screen, so a reload (the file changed on disk) never loses it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Static

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


class CheckRow(Horizontal, can_focus=False):
    """One expect entry: reference, your (editable) answer, computed value, ✓/✗."""

    def __init__(self, k: int, ref: str, answer: str, **kwargs: Any) -> None:
        super().__init__(classes="check-row", **kwargs)
        self.k = k
        self.ref = ref
        self.ref_label = Static(Text(ref), classes="check-ref", markup=False)
        self.input = Input(answer, compact=True, classes="check-answer", id=f"answer-{k}",
                           select_on_focus=False)
        self.computed = Static("", classes="check-computed", markup=False)
        self.mark = Static("", classes="check-mark", markup=False)

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
        Binding("down", "move(1)", "Next answer", show=False),
        Binding("up", "move(-1)", "Previous answer", show=False),
    ]

    def __init__(self, lab: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lab = lab
        self.items: dict[int, Any] = {}
        self._model: Any = None
        self.rows: list[CheckRow] = []
        self.base: dict[str, str] = {}
        """ref → the answer as the file had it when the screen opened (what a save compares with)."""

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
            from nnlab.tui.answers import answer_text, answer_texts

            texts = answer_texts(self.lab.path)  # the file is parsed once, not once per answer
            for k, entry in enumerate(m.scenario.expect):
                self.base[entry.ref] = answer_text(entry, texts)
                typed = self.lab.answers.get(entry.ref)
                row = CheckRow(k, entry.ref, typed if typed is not None else self.base[entry.ref])
                self.rows.append(row)
                yield row
            if not m.scenario.expect:
                yield Static(Text("this scenario has no expect: entries"), classes="check-empty")
        yield Static("", id="check-summary", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        """Check every answer and focus the first one."""
        self._model = self.model
        if self.app.is_headless:  # a blinking cursor would make screenshots flaky
            for row in self.rows:
                row.input.cursor_blink = False
        for row in self.rows:
            self.recheck(row)
        self.summarize()
        if self.rows:
            self.rows[0].input.focus()
        self.set_interval(0.5, self._follow_reload)

    def _follow_reload(self) -> None:
        """The lab reloaded the file: re-check everything against the new run."""
        if self.model is not self._model:
            self._model = self.model
            for row in self.rows:
                self.recheck(row)
            self.summarize()

    def _entry(self, row: CheckRow) -> Any:
        entries = self.model.scenario.expect
        for e in entries:
            if e.ref == row.ref:
                return e
        return None

    def recheck(self, row: CheckRow) -> None:
        """Check ``row``'s typed answer against the run and show the verdict."""
        from nnlab.tui.answers import parse_answer

        entry = self._entry(row)
        if entry is None:
            row.computed.update(Text("(not in the file any more)"))
            row.mark.update("")
            self.items.pop(row.k, None)
            return
        try:
            new = parse_answer(row.input.value, entry)
            item = self.model.check_entry(new)
        except NnlabError as exc:  # a half-typed answer is normal
            self.items.pop(row.k, None)
            row.computed.update(Text(exc.message, style="italic"))
            row.mark.update(Text("…"))
            row.set_class(False, "-ok")
            row.set_class(False, "-wrong")
            return
        self.items[row.k] = item
        computed = show_value(item.actual) if item.error is None else item.error
        row.computed.update(Text(computed))
        row.mark.update(Text("✓" if item.ok else "✗"))
        row.set_class(item.ok, "-ok")
        row.set_class(not item.ok, "-wrong")

    def summarize(self) -> None:
        """The line under the table: how many match, and where the first mistake is."""
        summary = self.query_one("#check-summary", Static)
        items = [self.items[r.k] for r in self.rows if r.k in self.items]
        if not self.rows:
            summary.update(Text(""))
            return
        wrong = [i for i in items if not i.ok]
        pending = len(self.rows) - len(items)
        if not wrong and not pending:
            summary.update(Text(f"all {len(items)} answers match ✓", style="bold green"))
            return
        first = self.first_wrong()
        text = Text(f"{len(wrong)} of {len(self.rows)} answers differ", style="bold red")
        if pending:
            text.append(f", {pending} unreadable", style="bold")
        if first is not None:
            where = ""
            if first.step is not None and first.step < len(self.model.steps):
                st = self.model.steps[first.step]
                where = f" — step {first.step + 1} ({st.phase}: {st.label}); ctrl+f goes there"
            text.append(f"; first mistake: {first.ref}{where}")
        summary.update(text)

    def first_wrong(self) -> Any:
        """The wrong answer that becomes known earliest in the trace."""
        wrong = [(self.items[r.k], r.k) for r in self.rows if r.k in self.items and not self.items[r.k].ok]
        if not wrong:
            return None
        return min(wrong, key=lambda p: (p[0].step if p[0].step is not None else 10**9, p[1]))[0]

    @on(Input.Changed, ".check-answer")
    def recheck_typed(self, event: Input.Changed) -> None:
        """Re-check as the user types; remember the text on the lab screen."""
        row = event.input.parent
        if isinstance(row, CheckRow):
            self.lab.answers[row.ref] = event.value
            self.recheck(row)
            self.summarize()

    @on(Input.Submitted, ".check-answer")
    def jump_to_entry_step(self, event: Input.Submitted) -> None:
        """Enter: go to the step where this value is computed."""
        row = event.input.parent
        item = self.items.get(row.k) if isinstance(row, CheckRow) else None
        if item is not None and item.step is not None:
            self.dismiss(item.step)
        else:
            self.notify("this reference is not computed by a single step", severity="warning")

    def action_first_wrong(self) -> None:
        """Jump to the first step whose value was answered wrongly."""
        first = self.first_wrong()
        if first is None:
            self.notify("no wrong answers", timeout=2)
            return
        if first.step is None:
            self.notify(f"{first.ref} is not tied to a step", severity="warning")
            return
        self.dismiss(first.step)

    def action_save(self) -> None:
        """Write the answers you changed into the file's expect: block (as it is on disk now)."""
        import yaml

        from nnlab.tui.answers import SaveRefused, save_answers

        answers = {r.ref: r.input.value for r in self.rows if r.input.value != self.base.get(r.ref)}
        entries = {e.ref: e for e in self.model.scenario.expect}
        try:
            saved = save_answers(self.lab.path, answers, self.base, entries)
        except SaveRefused as exc:
            self.notify(exc.message, severity="error", timeout=8)
            return
        except (OSError, UnicodeError, yaml.YAMLError) as exc:
            self.notify(f"could not save: {exc}", severity="error")
            return
        if not saved:
            self.notify("nothing to save: the file already has these answers", timeout=2)
            return
        for ref in saved:
            self.base[ref] = next(r.input.value for r in self.rows if r.ref == ref)
        if saved.copied:
            self.notify(f"bundled scenarios are not edited: saved {len(saved)} answer(s) to a copy, {saved.path}",
                        timeout=8)
            return
        self.notify(f"saved {len(saved)} answer(s) to {self.lab.path}", timeout=3)
        self.lab.reload()

    def action_move(self, delta: int) -> None:
        """Focus the next/previous answer."""
        focused = self.focused
        ks = [r.input for r in self.rows]
        if not ks:
            return
        k = ks.index(focused) if focused in ks else -1
        ks[max(0, min(len(ks) - 1, k + delta))].focus()

    def action_back(self) -> None:
        """Back to the lab (typed answers are kept)."""
        self.dismiss(None)
