"""Practice mode: predict the value before it is shown (``t`` in the lab, ``nnlab FILE --practice``).

The current step's output is hidden — its cells are ``?`` and the arithmetic ends in
``= ?`` — and the user types the value of the highlighted element. A right answer
(to the precision written, as in ``check``) reveals it; a wrong one says why when the
misconception catalog reproduces it; hints come on request (the formula, then the
formula with numbers); after three tries or ctrl+g the value is revealed. Before a
convolution or pooling step the first question is its output shape. The score
(answered, right first time, given up) lives on the lab for the whole session.
Nothing is written into the scenario.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Static

from nnlab.diagnosis import CATALOG
from nnlab.errors import NnlabError
from nnlab.tui.widgets.panes import KeyBar

MAX_TRIES = 3
SHAPE_OPS = ("conv2d", "conv1d", "maxpool2d", "avgpool2d")


@dataclass
class Score:
    """The practice score of a lab session."""

    answered: int = 0
    first_time: int = 0
    given_up: int = 0
    revealed: set[tuple[Any, ...]] = field(default_factory=set)
    """Questions already revealed: ``(step, element, example)`` or ``(step, "shape")``."""
    answers: dict[str, str] = field(default_factory=dict)
    """ref → the user's last answer to it (follow-through: later answers are also judged from these)."""

    def text(self) -> str:
        """``answered 4 · right first time 3 · given up 1``."""
        return f"answered {self.answered} · right first time {self.first_time} · given up {self.given_up}"


class PracticeScreen(Screen[None]):
    """One question at a time over the lab's current step and element.

    Args:
        lab: The lab screen (its model, step, element, example and digits; the score lives there).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back to the lab"),
        Binding("ctrl+t", "hint", "Hint", key_display="^t"),
        Binding("ctrl+g", "give_up", "Give up", key_display="^g"),
        Binding("ctrl+n", "next", "Next question", key_display="^n"),
    ]

    def __init__(self, lab: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lab = lab
        self.step = lab.step
        self.element = lab.element
        self.tries = 0
        self.hints = 0
        self.asking_shape = False
        self.done = False

    @property
    def model(self) -> Any:
        """The lab's model."""
        return self.lab.model

    @property
    def score(self) -> Score:
        """The session's score (kept on the lab)."""
        if self.lab.practice_score is None:
            self.lab.practice_score = Score()
        return self.lab.practice_score

    def compose(self) -> ComposeResult:
        """Score, question, tensors, the answer box and the feedback."""
        yield Static("", id="practice-score", markup=False)
        with VerticalScroll(id="practice-body"):
            yield Static("", id="practice-question", markup=False)
            yield Static("", id="practice-tensors", markup=False)
            yield Static("", id="practice-hint", markup=False)
        with Vertical(id="practice-answer-box"):
            yield Input(placeholder="your answer, e.g. 0.73, -1/4, σ(2) − 1 (Enter)", id="practice-answer",
                        compact=True)
            yield Static("", id="practice-feedback", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        """Ask the first question."""
        self._ask()

    # ------------------------------------------------------------------ the question
    def _key(self) -> tuple[Any, ...]:
        return (self.step, "shape") if self.asking_shape else (self.step, self.element, self.lab.example)

    def _ask(self) -> None:
        st = self.model.steps[self.step]
        self.asking_shape = st.op in SHAPE_OPS and st.phase == "forward" and (self.step, "shape") not in \
            self.score.revealed and self.element == 0
        self.tries, self.hints = 0, 0
        self.done = self._key() in self.score.revealed
        self.query_one("#practice-hint", Static).update("")
        self.query_one("#practice-feedback", Static).update(
            Text("revealed already: ^n for the next question", style="italic") if self.done else "")
        box = self.query_one("#practice-answer", Input)
        box.value = ""
        box.disabled = self.done
        if not self.done:
            box.focus()
        self._paint()

    def _focus(self) -> Any:
        return self.model.focus(self.step, self.element, self.lab.example, self.lab.digits)

    def _paint(self) -> None:
        st = self.model.steps[self.step]
        score = self.query_one("#practice-score", Static)
        score.update(Text(f"practice — {self.score.text()}", style="bold"))
        head = Text(f"step {self.step + 1}/{len(self.model.steps)}  {st.phase}: ", style="dim")
        head.append(st.label, style="bold")
        focus = self._focus()
        shown = self.done
        if self.asking_shape:
            head.append("\n\nWhat is the shape of the output? (e.g. 5x7)")
        elif focus.explanation is not None:
            ex = focus.explanation
            head.append(f"\n\nWhat is {ex.lhs}?")
            if shown:
                head.append(f"\n{ex.text}")
        elif focus.error:
            head.append(f"\n\n({focus.error})")
        self.query_one("#practice-question", Static).update(head)
        self.query_one("#practice-tensors", Static).update(self._tensors(focus, shown))

    def _tensors(self, focus: Any, shown: bool) -> Text:
        """The step's tensors as grids; the output's unrevealed cells are ``?`` (the current one ``[?]``)."""
        from nnlab.numfmt import fmt

        out = Text()
        for op in self.model.operands(self.step, self.lab.example):
            hidden = op.role in ("output", "grad") and op.slot == focus.slot and not self._step_revealed()
            out.append(f"\n{op.title}" + (f"  ({op.note})" if op.note else "") + "\n", style="bold")
            if hidden and self.asking_shape and not shown:
                out.append("   its shape is the question\n", style="italic")
                continue
            a = op.array
            if a.ndim == 0:
                a = a.reshape(1, 1)
            elif a.ndim == 1:
                a = a.reshape(1, -1)
            a = a.reshape(-1, a.shape[-1])
            width = max(op.cell_width(self.lab.digits), 3) + 2
            for r, row in enumerate(a):
                for c, v in enumerate(row):
                    index = self._index_of(op, r, c)
                    current = index == tuple(focus.index) and op.slot == focus.slot
                    if hidden and not (current and shown) and not self._cell_revealed(index):
                        cell = "[?]" if current else "?"
                    else:
                        cell = fmt(v, self.lab.digits)
                    out.append(cell.rjust(width), style="reverse bold" if current else "")
                out.append("\n")
        return out

    def _index_of(self, op: Any, r: int, c: int) -> tuple[int, ...]:
        import numpy as np

        shape = op.array.shape
        if len(shape) == 0:
            return ()
        flat = r * shape[-1] + c
        return tuple(int(i) for i in np.unravel_index(flat, shape))

    def _step_revealed(self) -> bool:
        n = self.model.element_count(self.step)
        return all((self.step, k, self.lab.example) in self.score.revealed for k in range(n))

    def _cell_revealed(self, index: tuple[int, ...]) -> bool:
        n = self.model.element_count(self.step)
        for k in range(n):
            _, idx = self.model.element_at(self.step, k)
            if tuple(idx) == index:
                return (self.step, k, self.lab.example) in self.score.revealed
        return False

    # ------------------------------------------------------------------ answering
    @on(Input.Submitted, "#practice-answer")
    def answer(self, event: Input.Submitted) -> None:
        """Judge the typed value."""
        from nnlab.practice.judge import judge

        if self.done or not event.value.strip():
            return
        st = self.model.steps[self.step]
        feedback = self.query_one("#practice-feedback", Static)
        try:
            if self.asking_shape:
                verdict = judge(self.model.session, st.shape, event.value, self._ref_name(), shape=True)
            else:
                focus = self._focus()
                if focus.explanation is None:
                    feedback.update(Text("this element cannot be explained here; ^n for the next", style="italic"))
                    return
                verdict = judge(self.model.session, focus.explanation.value, event.value, self._ref(),
                                earlier=tuple(self.score.answers.items()))
        except NnlabError as exc:  # unreadable: say so, not a try
            feedback.update(Text(exc.message, style="italic"))
            return
        self.tries += 1
        ref = self._ref_name() if self.asking_shape else self._ref()
        if ref is not None and not self.asking_shape:
            self.score.answers[ref] = event.value.strip()
        if verdict.ok:
            self.score.answered += 1
            self.score.first_time += self.tries == 1 and self.hints == 0
            text = Text("✓ right" + (" first time" if self.tries == 1 else f" after {self.tries} tries"),
                        style="bold green")
            text.append(f"  (tolerance {verdict.tolerance});  ^n next question")
            self._reveal(text)
            return
        text = Text(f"✗ not {event.value.strip()}", style="bold red")
        for mistake, message in verdict.why:  # the catalog's words: the worked message would give the value away
            said = message if mistake == "carried-error" else CATALOG.get(mistake, "")
            text.append(f"\nwhy ({mistake}): {said}")
        if self.tries >= MAX_TRIES:
            self.score.answered += 1
            text.append(f"\n{MAX_TRIES} tries: here is the value.")
            self._reveal(text)
            return
        text.append(f"\ntry again ({MAX_TRIES - self.tries} left) — ^t for a hint, ^g to give up")
        feedback.update(text)

    def _reveal(self, text: Text) -> None:
        self.done = True
        self.score.revealed.add(self._key())
        self.query_one("#practice-feedback", Static).update(text)
        self.query_one("#practice-answer", Input).disabled = True
        self._paint()

    def _ref_name(self) -> str | None:
        st = self.model.steps[self.step]
        node = self.model.session.run.graph.nodes.get(st.node)
        return st.node if node is not None and node.visible and self.model.session.training is None else None

    def _ref(self) -> str | None:
        """The element as a reference (``z1[0]``, ``grad(W1)[0, 1]``), when the scenario can name it."""
        run, st = self.model.session.run, self.model.steps[self.step]
        if self.model.session.training is not None or run.batch > 1:
            return None
        focus = self._focus()
        index = "[" + ", ".join(map(str, focus.index)) + "]" if focus.index else ""
        if st.phase == "forward" and focus.slot < 0:
            name = self._ref_name()
            return f"{name}{index}" if name else None
        if st.phase == "backward" and 0 <= focus.slot < len(st.inputs):
            name = st.inputs[focus.slot]
            node = run.graph.nodes.get(name)
            alone = not st.accumulates or st.accumulates[focus.slot][1] == 1
            return f"grad({name}){index}" if node is not None and node.visible and alone else None
        return None

    # ------------------------------------------------------------------ keys
    def action_hint(self) -> None:
        """First the formula, then the formula with numbers."""
        if self.done:
            return
        self.hints += 1
        st = self.model.steps[self.step]
        hint = Text()
        if self.asking_shape:
            hint.append("hint: output size per axis = ⌊(n + total padding − k)/s⌋ + 1", style="italic")
            if self.hints > 1:
                rule = self.model.session.explain(st, None)
                hint.append(f"\n{getattr(rule, 'formula', '')}", style="italic")
        else:
            ex = self._focus().explanation
            if ex is not None:
                hint.append(f"hint: {ex.lhs} = {ex.formula}", style="italic")
                if self.hints > 1 and ex.arithmetic:
                    hint.append(f"\n      = {ex.arithmetic} = ?", style="italic")
        self.query_one("#practice-hint", Static).update(hint)

    def action_give_up(self) -> None:
        """Show the value (counts as given up)."""
        if self.done:
            return
        self.score.given_up += 1
        self._reveal(Text("given up: here is the value;  ^n next question", style="bold"))

    def action_next(self) -> None:
        """The next question: the next element, else the next step."""
        if self.asking_shape and self.done:
            self._ask()
            return
        n = self.model.element_count(self.step)
        if self.element + 1 < n:
            self.element += 1
        elif self.step + 1 < len(self.model.steps):
            self.step, self.element = self.step + 1, 0
        else:
            self.notify("that was the last step", timeout=2)
            return
        self._ask()

    def action_back(self) -> None:
        """Back to the lab, at the question's step and element."""
        self.lab.goto(self.step, self.element)
        self.dismiss(None)
