"""The lab screen: step through a run like a debugger, one operation and one element at a time.

State is one integer, :attr:`LabScreen.step` (plus the element within the step,
remembered per step). Every pane is a pure function of it and of the loaded
:class:`~nnlab.tui.model.LabModel`. Loading runs in a thread worker after the first
frame is painted (NumPy and the engine are imported there, not before), and the
same worker re-runs the file whenever it changes on disk: a good edit replaces the
model and keeps the user's place, a bad one shows the error panel and keeps the last
good run on screen.
"""

from __future__ import annotations

import os
import zlib
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from nnlab.errors import NnlabError
from nnlab.tui.widgets.diagram import DiagramView
from nnlab.tui.widgets.graph import GraphView
from nnlab.tui.widgets.panes import AboutPane, ErrorPanel, KeyBar, MathPane, StatusBar
from nnlab.tui.widgets.training import EpochTable
from nnlab.tui.widgets.tensor import TensorPane

if TYPE_CHECKING:
    from nnlab.engine.trace import Step
    from nnlab.tui.model import LabModel
    from nnlab.tui.screens.practice import Score

POLL_SECONDS = 0.5
STAMP_READ_LIMIT = 1 << 20
"""Files up to this size are read at each poll (a scenario is a few KiB; reading one takes microseconds)."""
PREFETCH_ABOVE = 0.002  # seconds: explain the next element ahead when one explanation takes longer
PREFETCH_DELAY = 0.02   # seconds after a repaint
DIAGRAM_BESIDE = 150  # columns from which the drawn graph is shown beside the steps without asking
NOTES_BESIDE = (120, 40)  # columns × rows from which the about notes and epoch table show without asking
PLOT_DELAY = 0.08  # seconds after the last move before the plot is redrawn (keys repaint first)
PHASE_STYLE = {"forward": "bold $text-primary", "backward": "bold $text-secondary", "update": "bold $text-warning"}


def error_text(exc: BaseException) -> str:
    """A user-facing text for an exception raised while loading."""
    if isinstance(exc, NnlabError):
        return exc.format()
    import traceback

    tb = traceback.extract_tb(exc.__traceback__)
    where = f"  (at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
    return f"internal error: {type(exc).__name__}: {exc}{where}\nhint: this is a bug in nnlab, not in your file."


def failure_where(exc: NnlabError) -> str:
    """``shape error at line 25`` (the status bar at the failed line)."""
    from nnlab.session import error_kind

    line = exc.loc.line if exc.loc is not None else 0
    return f"{error_kind(exc)} error" + (f" at line {line}" if line else "")


def failure_text(exc: NnlabError, title: str, steps: int = 1) -> Text:
    """The math pane at the failed line: what stops the run, where (file, line, caret) and the hint.

    The engine's message is plain text (``Text``, never markup: ``[3, 4]`` is not a style tag). The
    file's ``expect`` answer is not repeated here: a bundled quiz's answers stay hidden until checked.
    """
    from nnlab.session import error_kind

    kind = error_kind(exc)
    loc = exc.loc
    if loc is not None and loc.file:  # the file's name, not its whole path: the pane is narrow
        loc = loc._replace(file=os.path.basename(loc.file))
    text = Text(no_wrap=False, overflow="fold")
    text.append(f"✗ {title}", style="bold red")
    text.append(f" — the run stops here with a {kind} error\n\n", style="bold")
    text.append(NnlabError(exc.message, loc, exc.hint, exc.kind).format())
    before = "the lines before it ran as usual (← steps back through them)" if steps else "no line ran before it"
    text.append(f"\n\n{before}; c checks your answers", style="dim")
    return text


class LabScreen(Screen):
    """Step through one scenario file: graph, tensors, math and status.

    Args:
        path: The scenario file.
        start: ``--step``: a 1-based step number or a node name.
    """

    AUTO_FOCUS = ""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right", "next_step", "Step", key_display="→", tooltip="Next step"),
        Binding("left", "prev_step", "Back", key_display="←", tooltip="Previous step"),
        Binding("down", "next_element", "Element", key_display="↓", tooltip="Next element of this step"),
        Binding("up", "prev_element", "Prev element", key_display="↑", show=False),
        Binding("pagedown,n", "next_phase", "Phase", key_display="n", tooltip="Next phase"),
        Binding("pageup,p", "prev_phase", "Prev phase", show=False),
        Binding("right_square_bracket", "next_epoch", "Epoch", key_display="]",
                tooltip="Next epoch (a count first: 50] jumps 50 epochs)"),
        Binding("left_square_bracket", "prev_epoch", "Prev epoch", show=False,
                tooltip="Previous epoch (a count first: 50[ jumps back 50)"),
        *[Binding(str(d), f"count({d})", f"Count {d}", show=False) for d in range(10)],
        Binding("home", "first_step", "First step", show=False),
        Binding("end", "last_step", "Last step", show=False),
        Binding("greater_than_sign,full_stop", "slice(1)", "Next channel", show=False),
        Binding("less_than_sign,comma", "slice(-1)", "Prev channel", show=False),
        Binding("e", "example(1)", "Example", tooltip="Next example of the data set"),
        Binding("plus,equals_sign", "digits(1)", "More digits", show=False),
        Binding("minus", "digits(-1)", "Fewer digits", show=False),
        Binding("s", "chain", "Chain rule",
                tooltip="Show the symbolic chain rule (sympy) for this gradient element; again to hide"),
        Binding("a", "all_grads", "All grads",
                tooltip="Show gradients w.r.t. data, labels and constants too (hidden by default); again to hide"),
        Binding("i", "notes", "Notes", tooltip="Show or hide the about: notes (and the epoch table when training)"),
        Binding("v", "plot", "Plot", tooltip="Plot: loss, decision boundary, attention or gradient sizes; "
                "again for the next, then off"),
        Binding("g", "goto", "Go to", tooltip="Jump to a node by name"),
        Binding("d", "diagram", "Graph", tooltip="Show or hide the drawn computational graph"),
        Binding("c", "check", "Check", tooltip="Check your answers"),
        Binding("t", "practice", "Practice", tooltip="Practice: predict each value before it is shown"),
        Binding("r", "reload", "Reload", show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("escape", "home", "Home", show=False, tooltip="Back to the home screen (when opened from it)"),
        Binding("q", "quit", "Quit"),
    ]

    step: reactive[int] = reactive(0, bindings=True, init=False, repaint=False)
    """The current step: the one piece of state every pane follows."""

    element: reactive[int] = reactive(0, bindings=True, init=False, repaint=False)
    """The current element within the step (remembered per step)."""

    example: reactive[int] = reactive(0, bindings=True, init=False, repaint=False)
    """Which example of the data set is shown (0 without data)."""

    digits: reactive[int] = reactive(4, init=False, repaint=False)
    """Decimal places of every number shown."""

    def __init__(self, path: str, start: str | None = None, practice: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.start = start
        self.practice = practice
        """Open in practice mode (``--practice``; also for a file whose answers are ``?``)."""
        self.practice_score: Score | None = None
        """The practice score of this lab session (made by the practice screen when first used)."""
        self.model: LabModel | None = None
        self.error: str = ""
        self._elements: dict[int, int] = {}
        self._stamp: tuple[int, ...] | None = None
        self._loading = True  # from the start: the watch must not load again before the first load begins
        self._new_step = True
        self._direction = 1
        self.show_chain = False
        self._chain: tuple | None = None  # (model, step, element, example, digits) -> text shown
        self._chain_pending: tuple | None = None  # the key the chain worker is working on
        self.chain_text = ""
        self.answers: dict[str, str] = {}
        self._binding_state: tuple | None = None
        self.notes_shown: bool | None = None
        """The about notes shown (True) or hidden (False) by the user; None: shown when there is room."""
        self.plot_kind: str | None = None
        """The plot shown (``"loss"`` …) or None."""
        self._count = ""
        self._local: dict[tuple, str] = {}
        self._rules_ready: object = None  # the model whose backward rules are built (local derivatives inline)
        self._warming: object = None      # the model whose rules a worker is building
        self._plotted: tuple | None = None
        self.diagram_shown: bool | None = None
        """The graph drawing shown (True) or hidden (False) by the user; None: shown when there is room."""

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        """Status, graph | tensors over math, error panel, footer."""
        yield StatusBar(id="status")
        with Horizontal(id="main"):
            yield GraphView(id="graph")
            yield DiagramView(id="diagram")
            with Vertical(id="right"):
                yield Static(Text(f"loading {self.path} …"), id="loading", markup=False)
                yield TensorPane(id="tensors")
                yield MathPane(id="math")
                with Horizontal(id="extras"):
                    yield AboutPane(id="about")
                    yield EpochTable(id="epochs")
        yield KeyBar()

    def on_mount(self) -> None:
        """Paint first, then load in a worker and start watching the file."""
        self.query_one(TensorPane).display = False
        self.query_one(MathPane).display = False
        self.query_one("#extras").display = False
        self.query_one(StatusBar).show([(os.path.basename(self.path), "bold"), ("loading…", "dim")])
        self.query_one(GraphView).border_title = os.path.basename(self.path)
        self.call_after_refresh(self.reload)
        self.set_interval(POLL_SECONDS, self._poll_file, name="watch")

    # ------------------------------------------------------------------ loading
    def _file_stamp(self) -> tuple[int, ...] | None:
        """What says the file changed: inode, size, mtime and — for a file of a scenario's size — a CRC.

        The CRC is there because mtime is only as fine as the kernel's clock tick (about
        4 ms): two same-size saves within one tick would otherwise look like one.
        """
        try:
            st = os.stat(self.path)
            crc = 0
            if st.st_size <= STAMP_READ_LIMIT:
                with open(self.path, "rb") as f:
                    crc = zlib.crc32(f.read(STAMP_READ_LIMIT + 1))
        except OSError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns, crc

    def _poll_file(self) -> None:
        stamp = self._file_stamp()
        if stamp is None or self._loading:  # an editor's delete-and-recreate: wait for the file
            return
        if stamp != self._stamp:
            self.reload()

    def reload(self) -> None:
        """(Re)load the file in a worker; the screen stays usable meanwhile."""
        self._stamp = self._file_stamp()
        self._loading = True
        self._load(self.path)

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load(self, path: str) -> Any:
        from nnlab.tui.model import load_model

        return load_model(path)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Apply a loaded model, or show why loading failed."""
        if event.worker.group == "chain":
            if event.state == WorkerState.SUCCESS:
                self._chained(*event.worker.result)
            elif event.state == WorkerState.ERROR:  # a bug, or sympy failing: said in the pane
                self._chained(self._chain_pending, f"no symbolic chain here: {event.worker.error!r}")
            return
        if event.worker.group == "rules":
            if event.state == WorkerState.ERROR:  # a bug: said in the pane, not lost
                self._local[self._local_key] = f"local derivative: {event.worker.error!r}"
            if event.state == WorkerState.SUCCESS and event.worker.result is self.model:
                self._rules_ready = self.model
                self.render_state()
            return
        if event.worker.group == "explain":
            if event.state == WorkerState.SUCCESS:
                self._explained(event.worker.result)
            elif event.state == WorkerState.ERROR:
                self.notify(f"could not explain: {event.worker.error}", severity="warning")
            return
        if event.worker.group != "load":
            return
        if event.state == WorkerState.SUCCESS:
            self._loading = False
            self.apply_model(event.worker.result)
        elif event.state == WorkerState.ERROR:
            self._loading = False
            self.show_error(error_text(event.worker.error))
        elif event.state == WorkerState.CANCELLED:
            self._loading = False

    def _prefetch(self, model: LabModel, step: int, k: int, example: int, digits: int) -> None:
        """Explain the next element in the direction of travel ahead of time (for steps whose
        explanations are slow), so that holding ↓ or ↑ does not wait for one.

        It runs on the app's thread once the frame is painted (a worker thread would hold the
        GIL while the frame is still being drawn and delay it) and is skipped if the user has
        moved on in the meantime.
        """
        if (model, step, k) != (self.model, self.step, self.element):
            return  # the user moved on
        j = k + self._direction
        if 0 <= j < model.element_count(step) and not model.has_focus(step, j, example, digits):
            model.focus(step, j, example, digits)

    @work(thread=True, exclusive=True, exit_on_error=False, group="chain")
    def _symbolic(self, key: tuple) -> tuple:
        model, step, k, example, digits = key
        try:
            return key, model.chain_text(step, k, example, digits)
        except NnlabError as exc:  # no symbolic form here: said in the pane
            return key, f"no symbolic chain here: {exc.message}"

    @property
    def _chain_key(self) -> tuple:
        """What the symbolic chain shown now is for: (model, step, element, example, digits)."""
        return self.model, self.step, self.element, self.example_here, self.digits

    def _chained(self, key: tuple, text: str) -> None:
        """A symbolic chain is worked out: show it if the user is still on its element."""
        self._chain = (key, text)
        if self.show_chain and self.model is not None and key == self._chain_key:
            self.chain_text = text
            self.query_one(MathPane).show_chain(text)

    def action_chain(self) -> None:
        """Show (or hide) the symbolic chain rule under the arithmetic."""
        self.show_chain = not self.show_chain
        self.query_one(MathPane).set_class(self.show_chain, "-tall")
        if not self.show_chain:
            self.chain_text = ""
        self.render_state()

    def error_panel(self, create: bool = False) -> ErrorPanel | None:
        """The error panel (mounted the first time an error is shown, to keep the first frame light)."""
        found = self.query(ErrorPanel)
        if found:
            return found.first()
        if not create:
            return None
        panel = ErrorPanel(id="error")
        self.mount(panel, before=self.query_one(KeyBar))
        return panel

    @work(thread=True, exclusive=True, exit_on_error=False, group="explain")
    def _explain(self, model: LabModel, step: int, k: int, example: int, digits: int) -> tuple:
        model.focus(step, k, example, digits)
        return model, step, k, example, digits

    def _explained(self, result: tuple) -> None:
        """A slow explanation finished: show it if the user is still on that element."""
        model, step, k, example, digits = result
        if (model, step, k, example, digits) == (self.model, self.step, self.element, self.example_here,
                                                 self.digits):
            self.render_state()

    def show_error(self, message: str) -> None:
        """Show the error panel; the last good run (if any) stays on screen."""
        self.error = message
        panel = self.error_panel(create=True)
        panel.show_error(message)
        panel.set_class(self.model is None, "-alone")
        self.query_one("#loading").display = False
        if self.model is None:
            self.query_one(StatusBar).show([(os.path.basename(self.path), "bold"),
                                            ("cannot load: fix the file and save — nnlab reloads it", "bold $error")])
        self.refresh_bindings()

    def apply_model(self, model: LabModel) -> None:
        """Show ``model``, keeping the current step (or the nearest) when reloading."""
        old = self.model
        old_step = old.steps[self.step] if old is not None and self.step < len(old.steps) else None
        at_failure = old is not None and old.is_failure(self.step)
        self.model = model
        self.error = ""
        panel = self.error_panel()
        if panel is not None:
            panel.clear()
        self.query_one("#loading").display = False
        self.query_one(TensorPane).display = True
        self.query_one(MathPane).display = True
        graph = self.query_one(GraphView)
        graph.border_title = model.title
        if old is None:
            target = 0
            if self.start:
                found = model.step_for_name(str(self.start))
                if found is None:
                    self.notify(f"--step {self.start}: no such step or node", severity="warning")
                else:
                    target = found
            self._elements = {}
        else:
            target = model.nearest_step(old_step, self.step)
            if at_failure and model.failure_step is not None:  # still on the line that fails
                target = model.failure_step
            elif at_failure:  # the line is fixed: show what it computes now
                eq = old.session.failed_equation
                found = model.step_for_name(eq.name) if eq is not None else None
                target = found if found is not None else model.last_step
            self._elements = {k: v for k, v in self._elements.items() if k < len(model.steps)}
            self.notify("reloaded", timeout=1.5)
        self.example = max(0, min(self.example, model.examples - 1))
        graph.set_rows(model.rows, target)
        self._show_overview(model)
        self.query_one(DiagramView).set_model(model)
        self._remember_app()
        self.goto(target, force=True)
        self.refresh_bindings()
        if old is None and (self.practice or any(e.raw == "?" for e in model.scenario.expect)):
            self.action_practice()  # --practice, or an exercise with '?' answers

    def _remember_app(self) -> None:
        from nnlab.tui.app import NnlabApp

        if isinstance(self.app, NnlabApp):
            self.app.remember_file(self.path)

    # ------------------------------------------------------------------ state
    def goto(self, step: int, element: int | None = None, force: bool = False) -> None:
        """Make ``step`` current (and ``element`` within it, else the one remembered)."""
        if self.model is None:
            return
        step = max(0, min(step, self.model.last_step))
        n = self.model.element_count(step)
        k = self._elements.get(step, 0) if element is None else element
        self.set_reactive(LabScreen.element, max(0, min(k, n - 1)))
        self._new_step = True
        if step == self.step and force:
            self.render_state()
            self.refresh_bindings()
        else:
            self.step = step

    def watch_step(self) -> None:
        """Follow the step in every pane."""
        self.render_state()

    def watch_element(self, old: int, new: int) -> None:
        """Follow the element in the tensor and math panes."""
        self._direction = 1 if new >= old else -1
        if self.model is not None:
            self._elements[self.step] = self.element
        self.render_state()

    def watch_example(self) -> None:
        """Redraw for another example."""
        self._new_step = True
        self.render_state()

    def watch_digits(self) -> None:
        """Redraw with another precision."""
        self._new_step = True
        self.render_state()

    def render_state(self) -> None:
        """Push the current step and element into the panes."""
        m = self.model
        if m is None:
            return
        step, k = self.step, self.element
        if m.is_failure(step):
            self._render_failure(m)
            return
        st = m.steps[step]
        self._elements[step] = k
        self.query_one(GraphView).current = step
        example = self.example_here
        self.query_one(DiagramView).show_step(step, example, self.digits)
        operands = m.operands(step, example)
        focus = m.cached_focus(step, k, example, self.digits)
        if focus is None:
            focus = m.pending_focus(step, k)
            self._explain(m, step, k, example, self.digits)
        self.query_one(TensorPane).show(operands, focus.marks, focus.slot, focus.index, self.digits,
                                        self._new_step)
        self._new_step = False
        if focus.explanation is not None and m.cost.get(step, 0.0) > PREFETCH_ABOVE:
            # shortly after this repaint (every pane has painted by then), on this thread: a worker
            # thread would hold the GIL while the frame is still being drawn
            self.set_timer(PREFETCH_DELAY, partial(self._prefetch, m, step, k, example, self.digits))
        math = self.query_one(MathPane)
        math.set_class(self.show_chain, "-tall")  # as the failed line left it, or the chain rule wants it
        math.border_title = Text(f"step {step + 1} · {m.rows[m.row_of_step(step)].text}")
        local = ""
        if st.phase == "backward" and focus.explanation is not None:
            key = self._local_key
            if key not in self._local and self._rules_ready is m:  # the rules are built: in this frame
                self._local[key] = self._local_text(key)
            elif self._warming is not m:  # once per model: sympy and every backward rule, in a thread
                self._warming = m
                self._warm_rules(m)
            local = self._local.get(key, "")
        math.show(st, focus, self.digits, m.step_shape_rule(step), local)
        if self.show_chain:
            key = (m, step, k, example, self.digits)
            if self._chain is not None and self._chain[0] == key:
                math.show_chain(self._chain[1])
            else:
                math.show_chain("symbolic chain: working it out…")
                self._chain_pending = key
                self._symbolic(key)
        self.query_one(StatusBar).show(self.status_parts())
        if m.training is not None:
            self.query_one(EpochTable).show_epoch(st.epoch)
        if self.plot_kind is not None and (m, self.plot_kind, st.update) != self._plotted:
            self._schedule_plot()

    def _render_failure(self, m: LabModel) -> None:
        """The failed line's row: the values it reads, and the located error with its hint in the math pane."""
        step = self.step
        self.query_one(GraphView).current = step
        diagram = self.query_one(DiagramView)
        if m.steps:  # the drawing lights the last line that ran
            diagram.show_step(step - 1, 0, self.digits)
        else:
            diagram.note = "no drawing: the first line fails, no step ran"
            diagram.refresh()
        self.query_one(TensorPane).show(m.failure_operands(), {}, -3, (), self.digits, self._new_step)
        self._new_step = False
        math = self.query_one(MathPane)
        math.set_class(True, "-tall")  # the message, the located line and the hint: room for all three
        math.border_title = Text(f"step {step + 1} · ✗ {m.failure_title}")
        math.set_text(failure_text(m.failure, m.failure_title, len(m.steps)))
        self.query_one(StatusBar).show(self.status_parts())

    @property
    def example_here(self) -> int:
        """The example shown at this step (the chosen one, clamped to the step's batch)."""
        if self.model is None:
            return 0
        return min(self.example, self.model.examples_at(self.step) - 1)

    def status_parts(self) -> list[tuple[str, str]]:
        """The status bar's pieces."""
        m = self.model
        if m.is_failure(self.step):
            return [("failed", "bold $text-error"), (f"step {self.step + 1}/{m.last_step + 1}", ""),
                    (failure_where(m.failure), "bold"), (m.arithmetic, "dim")]
        st = m.steps[self.step]
        parts = [(st.phase, PHASE_STYLE.get(st.phase, "bold")),
                 (f"step {self.step + 1}/{m.last_step + 1}", "")]
        n = m.element_count(self.step)
        if n > 1:
            parts.append((f"element {self.element + 1}/{n}", ""))
        n_ex = m.examples_at(self.step)
        data = m.data_examples(self.step)
        if n_ex > 1:
            parts.append((f"example {self.example_here + 1}/{n_ex}", ""))
        elif data:
            parts.append((f"example #{data[0]}" if len(data) == 1 else f"batch {list(data)}", ""))
        if st.epoch is not None:
            parts.append((f"epoch {st.epoch}" + (f" · update {st.update}" if st.update is not None else ""), ""))
        if m.training is not None and self.step == len(m.steps) - 1:  # early: a narrow status still shows it
            from nnlab.render.plots import stop_reason

            parts.insert(2, (f"stopped: {stop_reason(m.training)}", "bold"))
        if st.phase == "backward" and m.target_note:
            parts.append((f"gradients {m.target_note}", "bold"))
        if self.practice_score is not None:
            parts.insert(2, (f"practice: {self.practice_score.text()}", "bold"))
        parts.append((m.arithmetic, "dim"))
        conv = m.conventions(self.step)
        if conv:
            parts.append((conv, "dim"))
        return parts

    # ------------------------------------------------------------------ actions
    _ACTIONS = ("next_step", "prev_step", "next_phase", "prev_phase", "next_epoch", "prev_epoch", "example")

    def refresh_bindings(self) -> None:
        """Tell the footer about bindings only when an action's availability really changed.

        The reactives are declared with ``bindings=True``; each change calls this. The
        footer rebuilds itself on every refresh, which costs more than a whole
        repaint, so unchanged states are not published.
        """
        # Up/Down are not in the state: element moves are too frequent to rebuild the
        # footer for, so the element actions stay enabled and stop at the ends themselves.
        state = (id(self.focused), id(self.model), self.error != "",
                 tuple(self.check_action(a, ()) for a in self._ACTIONS))
        if state != self._binding_state:
            self._binding_state = state
            super().refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Grey out moves that cannot happen here; hide ones that never apply."""
        m = self.model
        moves = {"next_step", "prev_step", "next_element", "prev_element", "next_phase", "prev_phase",
                 "first_step", "last_step", "next_epoch", "prev_epoch", "slice", "example", "goto", "digits",
                 "chain", "all_grads", "plot", "count"}
        if action == "home":
            return len(self.app.screen_stack) > 1 and self.app.screen is self
        if action not in moves:
            return True
        if action in ("next_epoch", "prev_epoch", "count") and (m is None or not m.epochs):
            return False
        if action == "example" and (m is None or m.max_examples <= 1):
            return False
        if action in ("chain", "all_grads") and (m is None or not m.has_backward):
            return False
        if action == "all_grads" and not m.has_hidden:
            return False
        if action == "plot" and (m is None or not m.plot_kinds):
            return False
        if m is None:
            return None
        last = m.last_step
        if action in ("next_step", "last_step"):
            return None if self.step >= last else True
        if action in ("prev_step", "first_step"):
            return None if self.step <= 0 else True
        if action == "next_phase":
            return None if self._phase_target(1) is None else True
        if action == "prev_phase":
            return None if self._phase_target(-1) is None else True
        if action == "next_epoch":
            return None if self._epoch_target(1) is None else True
        if action == "prev_epoch":
            return None if self._epoch_target(-1) is None else True
        return True

    def action_next_step(self) -> None:
        """Go to the next step."""
        self.goto(self.step + 1)

    def action_prev_step(self) -> None:
        """Go to the previous step."""
        self.goto(self.step - 1)

    def action_first_step(self) -> None:
        """Go to the first step."""
        self.goto(0)

    def action_last_step(self) -> None:
        """Go to the last step."""
        if self.model is not None:
            self.goto(self.model.last_step)

    def action_next_element(self) -> None:
        """Next element of this step."""
        if self.model is not None and self.element < self.model.element_count(self.step) - 1:
            self.element += 1

    def action_prev_element(self) -> None:
        """Previous element of this step."""
        if self.element > 0:
            self.element -= 1

    def _group(self, k: int) -> tuple:
        m = self.model
        if m.is_failure(k):  # the failed line: a phase of its own, after the others
            return (None, None, "failed")
        st = m.steps[k]
        return (st.epoch, st.update, st.phase)

    def _phase_target(self, delta: int) -> int | None:
        m = self.model
        if m is None:
            return None
        here = self._group(self.step)
        if delta > 0:
            for k in range(self.step + 1, m.last_step + 1):  # by index: a training trace is made on demand
                if self._group(k) != here:
                    return k
            return None
        # backwards: the start of this group if we are inside it, else the start of the previous group
        k = self.step
        while k > 0 and self._group(k - 1) == here:
            k -= 1
        if k != self.step:
            return k
        if k == 0:
            return None
        prev = self._group(k - 1)
        k -= 1
        while k > 0 and self._group(k - 1) == prev:
            k -= 1
        return k

    def _epoch_target(self, delta: int) -> int | None:
        m = self.model
        if m is None or not m.epochs:
            return None
        cur = m.steps[self.step].epoch
        epochs = m.epochs
        if cur is None:
            want = epochs[0] if delta > 0 else None
        elif cur in epochs:
            i = epochs.index(cur) + delta
            want = epochs[i] if 0 <= i < len(epochs) else None
        else:
            want = None
        if want is None:
            # "[" inside an epoch first goes back to the epoch's own start
            if delta < 0 and cur is not None:
                start = m.first_of_epoch(cur)
                return start if start is not None and start < self.step else None
            return None
        if delta < 0 and cur is not None:
            start = m.first_of_epoch(cur)
            if start is not None and start < self.step:
                return start
        return m.first_of_epoch(want)

    def action_next_phase(self) -> None:
        """Jump to the start of the next phase (forward → backward → update)."""
        t = self._phase_target(1)
        if t is not None:
            self.goto(t)

    def action_prev_phase(self) -> None:
        """Jump to the start of this phase, or of the previous one."""
        t = self._phase_target(-1)
        if t is not None:
            self.goto(t)

    def action_next_epoch(self) -> None:
        """Jump to the first step of the next epoch (or of the epoch a typed count ahead)."""
        n = self._take_count()
        t = self._epoch_target(1) if n == 1 else self._epochs_ahead(n)
        if t is not None:
            self.goto(t)

    def action_prev_epoch(self) -> None:
        """Jump to the first step of the previous epoch (or of the epoch a typed count back)."""
        n = self._take_count()
        t = self._epoch_target(-1) if n == 1 else self._epochs_ahead(-n)
        if t is not None:
            self.goto(t)

    def _epochs_ahead(self, n: int) -> int | None:
        m = self.model
        if m is None or not m.epochs:
            return None
        cur = m.steps[self.step].epoch or m.epochs[0]
        want = max(m.epochs[0], min(m.epochs[-1], cur + n))
        return m.first_of_epoch(want)

    def action_count(self, digit: int) -> None:
        """A digit typed before ``]`` or ``[``: how many epochs to jump."""
        if len(self._count) < 7:
            self._count += str(digit)
        self.notify(f"{int(self._count)} — now ] or [ to jump that many epochs", timeout=1.5)

    def _take_count(self) -> int:
        n = int(self._count) if self._count else 1
        self._count = ""
        return max(1, n)

    # ------------------------------------------------------------------ notes, plots, hidden gradients
    @property
    def _local_key(self) -> tuple:
        return self.model, self.step, self.element, self.example_here, self.digits

    @work(thread=True, exclusive=True, exit_on_error=False, group="rules")
    def _warm_rules(self, model: LabModel) -> LabModel:
        """Import sympy and build the symbolic rule of every backward step once (tens of ms each),
        so that each element's local derivative is then written in its key's own frame (< 1 ms)."""
        for step in model.backward_steps():
            self._local_text((model, step, 0, 0, self.digits))
        return model

    @staticmethod
    def _local_text(key: tuple) -> str:
        """The local derivative's line (sympy)."""
        model, step, k, example, digits = key
        try:
            return model.local_text(step, k, example, digits)
        except NnlabError as exc:
            return f"local derivative: {exc.message}"

    def _show_overview(self, model: LabModel) -> None:
        """The about notes and (training) the epoch table for a newly loaded model."""
        self._local = {}
        self.query_one(AboutPane).show(model.scenario.about or "")
        table = self.query_one(EpochTable)
        if model.training is not None:
            rows, what = model.epoch_rows()
            table.set_rows(rows, what, model.params_text)
            table.border_title = f"{what} per epoch"
        table.display = model.training is not None
        self._place_notes()
        if self.plot_kind is not None and self.plot_kind not in model.plot_kinds:
            self.plot_kind = None
        self._plotted = None
        self._schedule_plot()

    def _place_notes(self) -> None:
        w, h = self.size.width, self.size.height
        room = w >= NOTES_BESIDE[0] and h >= NOTES_BESIDE[1]
        shown = room if self.notes_shown is None else self.notes_shown
        extras = self.query_one("#extras")
        extras.display = self.model is not None and (shown or self.plot_kind is not None)
        self.query_one(AboutPane).display = shown and self.plot_kind is None  # a plot takes the notes' place
        table = self.query_one(EpochTable)
        table.display = shown and self.model is not None and self.model.training is not None

    def action_notes(self) -> None:
        """Show or hide the about notes (and the epoch table); over a plot, back to the notes."""
        if self.plot_kind is not None:
            self.plot_kind = None
            for pane in self.query("#plot"):
                pane.display = False
            self.notes_shown = True
        else:
            self.notes_shown = not self.query_one(AboutPane).display or not self.query_one("#extras").display
        self._place_notes()

    def action_all_grads(self) -> None:
        """Show (or hide) the gradients w.r.t. data, labels and constants."""
        m = self.model
        if m is None:
            return
        m.set_show_hidden(not m.show_hidden)
        self._elements = {}
        self.query_one(GraphView).set_rows(m.rows, self.step)
        self.notify("all gradients shown (data, labels too)" if m.show_hidden else
                    "gradients w.r.t. data and labels hidden", timeout=1.5)
        self.goto(self.step, 0, force=True)

    def action_plot(self) -> None:
        """Cycle the plot: each kind that applies here, then off."""
        m = self.model
        if m is None or not m.plot_kinds:
            return
        kinds = m.plot_kinds
        if self.plot_kind is None:
            self.plot_kind = kinds[0]
        else:
            i = kinds.index(self.plot_kind) + 1 if self.plot_kind in kinds else 0
            self.plot_kind = kinds[i] if i < len(kinds) else None
        self._plotted = None
        self._place_notes()
        self._schedule_plot()
        if self.plot_kind is None:
            for pane in self.query("#plot"):
                pane.display = False

    def show_plot(self, kind: str) -> None:
        """Show the plot ``kind`` (the palette's ``view: plot …``)."""
        self.plot_kind = kind
        self._plotted = None
        self._place_notes()
        self._schedule_plot()

    def _schedule_plot(self) -> None:
        if self.plot_kind is not None:
            self.set_timer(PLOT_DELAY, self._draw_plot, name="plot")

    def _draw_plot(self) -> None:
        """Draw (or redraw, when the update changed) the chosen plot."""
        m = self.model
        if m is None or self.plot_kind is None:
            return
        update = None if m.is_failure(self.step) else m.steps[self.step].update
        key = (m, self.plot_kind, update)
        if key == self._plotted:
            return
        from nnlab.render.plots import make
        from nnlab.tui.widgets.training import plot_pane

        found = self.query("#plot")
        pane = found.first() if found else None
        if pane is None:
            pane = plot_pane(id="plot")
            self.query_one("#extras").mount(pane)
        pane.display = True
        try:
            pane.show(make(m.session, self.plot_kind, update))
        except NnlabError as exc:
            self.notify(exc.message, severity="warning")
            return
        self._plotted = key

    def action_slice(self, delta: int) -> None:
        """Show the next/previous channel of the tensor the cursor is in."""
        if self.model is None or self.model.is_failure(self.step):
            return
        focus = self.model.focus(self.step, self.element, self.example_here, self.digits)
        self._step_slice(focus.slot, delta)

    def _step_slice(self, slot: int, delta: int) -> None:
        m = self.model
        pane = self.query_one(TensorPane)
        focus = m.focus(self.step, self.element, self.example_here, self.digits)
        if slot == focus.slot and len(focus.index) > 2:
            lead = pane.step_slice(slot, delta)
            if lead is not None:
                k = m.element_number(self.step, slot, tuple(lead) + tuple(focus.index[-2:]))
                if k is not None:
                    self.element = k
            return
        if pane.step_slice(slot, delta) is not None:
            self.render_state()

    def action_example(self, delta: int) -> None:
        """Show the next example of the data set."""
        if self.model is not None:
            n = self.model.examples_at(self.step)
            if n > 1:
                self.example = (self.example_here + delta) % n

    def action_digits(self, delta: int) -> None:
        """More or fewer decimal places."""
        self.digits = max(1, min(10, self.digits + delta))
        self.notify(f"{self.digits} decimal places", timeout=1)

    def on_resize(self) -> None:
        """Show the graph drawing beside the steps when there is room (unless the user chose), and the notes."""
        self._place_diagram()
        self._place_notes()

    def _place_diagram(self) -> None:
        wide = self.size.width >= DIAGRAM_BESIDE
        shown = wide if self.diagram_shown is None else self.diagram_shown
        diagram = self.query_one(DiagramView)
        diagram.display = shown
        self.set_class(shown and not wide, "-diagram-only")  # narrow: it takes the place of tensors and math
        diagram.fit_width = wide
        diagram.fit()

    def action_diagram(self) -> None:
        """Show or hide the drawn computational graph."""
        self.diagram_shown = not self.query_one(DiagramView).display
        self._place_diagram()

    def action_reload(self) -> None:
        """Re-run the file now."""
        self.reload()

    def action_help(self) -> None:
        """Show every key."""
        from nnlab.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self.BINDINGS))

    def action_goto(self) -> None:
        """Ask for a node name and jump to its step."""
        if self.model is None:
            return
        from nnlab.tui.screens.jump import JumpScreen

        def done(result: int | None) -> None:
            if result is not None:
                self.goto(result)

        self.app.push_screen(JumpScreen(self.model), done)

    def action_practice(self) -> None:
        """Practice mode: predict the current element (and the next ones) before seeing it."""
        if self.model is None or not self.model.steps:
            return
        if self.model.is_failure(self.step):
            self.notify("the run stops at this line: there is no value to predict (← for the steps before it)",
                        severity="warning", timeout=3)
            return
        from nnlab.tui.screens.practice import PracticeScreen

        self.app.push_screen(PracticeScreen(self))

    def action_check(self) -> None:
        """Open the check screen for this scenario's answers."""
        if self.model is None:
            self.notify("nothing loaded yet", severity="warning")
            return
        from nnlab.tui.screens.check import CheckScreen

        def done(result: int | None) -> None:
            if result is not None:
                self.goto(result)

        self.app.push_screen(CheckScreen(self), done)

    def action_export(self, fmt: str) -> None:
        """Write the worked solution as ``fmt`` (md, tex, html) next to the scenario (a bundled one: here)."""
        if self.model is None:
            self.notify("nothing loaded yet", severity="warning")
            return
        self._export(self.model.session, fmt)

    @work(thread=True, exit_on_error=False, group="export")
    def _export(self, session: Any, fmt: str) -> None:
        """Export in the background (a large scenario takes a second) and say where it went."""
        from nnlab.export.files import export_beside

        try:
            target = export_beside(session, self.path, fmt)
        except NnlabError as exc:
            self.app.call_from_thread(self.notify, f"export failed: {exc.message}", severity="error")
            return
        self.app.call_from_thread(self.notify, f"wrote {target}", timeout=6)

    def action_home(self) -> None:
        """Back to the home screen this lab was opened from."""
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    async def action_quit(self) -> None:
        """Leave nnlab."""
        self.app.exit()

    # ------------------------------------------------------------------ messages
    @on(GraphView.StepSelected)
    def jump_to_selected_step(self, event: GraphView.StepSelected) -> None:
        """A click or Enter in the graph pane."""
        self.goto(event.step)

    @on(DiagramView.StepSelected)
    def jump_to_clicked_node(self, event: DiagramView.StepSelected) -> None:
        """A click on a box of the drawn graph."""
        self.goto(event.step)

    @on(TensorPane.SliceChanged)
    def change_slice(self, event: TensorPane.SliceChanged) -> None:
        """‹ › in a tensor header."""
        if self.model is not None and not self.model.is_failure(self.step):
            self._step_slice(event.slot, event.delta)

    @on(TensorPane.ElementClicked)
    def select_clicked_element(self, event: TensorPane.ElementClicked) -> None:
        """A click on a cell of the tensor the cursor moves in selects that element."""
        if self.model is None or self.model.is_failure(self.step):
            return
        k = self.model.element_number(self.step, event.slot, event.index)
        if k is not None:
            self.element = k
