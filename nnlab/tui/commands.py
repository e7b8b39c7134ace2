"""Command palette (ctrl+p) providers with namespaced titles: ``step: …`` and ``scenario: …``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider


def _lab(screen: Any) -> Any:
    """The lab screen the palette was opened over, if it is one."""
    from nnlab.tui.screens.lab import LabScreen

    return screen if isinstance(screen, LabScreen) else None


def _diagram_detail(lab: Any, detail: str) -> None:
    """Show the lab's graph drawing in form ``detail`` (``"full"``, ``"boxes"``, ``"names"`` or ``"auto"``)."""
    from nnlab.tui.widgets.diagram import DiagramView

    view = lab.query_one(DiagramView)
    view.detail = detail
    if not view.display:
        lab.action_diagram()


class _Listed(Provider):
    """A provider whose commands are a list of ``(title, callback, help)``; the first few show before typing."""

    SHOWN_FIRST = 8

    def _commands(self) -> Iterator[tuple[str, Callable[[], Any], str]]:  # pragma: no cover - abstract
        raise NotImplementedError

    async def discover(self) -> Hits:
        """The first commands, shown before typing."""
        for k, (title, cmd, help_text) in enumerate(self._commands()):
            if k >= self.SHOWN_FIRST:
                break
            yield DiscoveryHit(Text(title), cmd, text=title, help=help_text)

    async def search(self, query: str) -> Hits:
        """Fuzzy-match every command."""
        matcher = self.matcher(query)
        for title, cmd, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), cmd, text=title, help=help_text)


class LabCommands(_Listed):
    """``step: next``, ``step: jump to backward pass``, ``step: jump to z1`` …"""

    def _commands(self) -> Iterator[tuple[str, Callable[[], Any], str]]:
        lab = _lab(self.screen)
        if lab is None or lab.model is None:
            return
        m = lab.model
        yield "step: next", lab.action_next_step, "Go to the next step (→)"
        yield "step: previous", lab.action_prev_step, "Go to the previous step (←)"
        yield "step: first", lab.action_first_step, "Go to the first step (Home)"
        yield "step: last", lab.action_last_step, "Go to the last step (End)"
        for phase in ("forward", "backward", "update"):
            first = next((s.index for s in m.steps if s.phase == phase), None)
            if first is not None:
                yield f"step: jump to {phase} pass", partial(lab.goto, first), f"First {phase} step"
        for e in m.epochs[:500]:
            first = m.first_of_epoch(e)
            if first is not None:
                yield f"step: jump to epoch {e}", partial(lab.goto, first), f"First step of epoch {e}"
        seen: set[tuple[str, str]] = set()
        for k in range(min(len(m.steps), 2000)):
            s = m.steps[k]
            if (s.phase, s.label) in seen:
                continue
            seen.add((s.phase, s.label))
            yield f"step: jump to {s.label}", partial(lab.goto, s.index), f"{s.phase} step {s.index + 1}"
        yield "view: graph drawing (show/hide)", lab.action_diagram, "The computational graph, boxes and arrows (d)"
        for detail, help_text in (("full", "names, ops, shapes and small numbers"), ("boxes", "without numbers"),
                                  ("names", "names only"), ("auto", "the fullest form that fits the width")):
            yield f"view: graph drawing {detail}", partial(_diagram_detail, lab, detail), f"Draw the graph: {help_text}"
        if m.has_backward:
            yield "step: chain rule (symbolic, show/hide)", lab.action_chain, "Every path and factor of this gradient element (s)"
            yield "view: all gradients (show/hide)", lab.action_all_grads, "Gradients w.r.t. data, labels, constants too (a)"
        yield "view: about notes (show/hide)", lab.action_notes, "The scenario's about: notes and the epoch table (i)"
        for kind in m.plot_kinds:
            yield f"view: plot {kind}", partial(lab.show_plot, kind), f"Plot {kind} (v cycles the plots)"
        yield "step: more digits", partial(lab.action_digits, 1), "Show one more decimal place (+)"
        yield "step: fewer digits", partial(lab.action_digits, -1), "Show one fewer decimal place (-)"
        for fmt, kind in (("md", "Markdown"), ("tex", "LaTeX"), ("html", "HTML")):
            yield (f"export: worked solution as {kind}", partial(lab.action_export, fmt),
                   f"Write the worked solution as .{fmt} next to the scenario (a bundled one: the current directory)")


class ScenarioCommands(_Listed):
    """``scenario: open …`` (bundled), ``scenario: reload``, ``scenario: check answers``, ``scenario: home``."""

    SHOWN_FIRST = 3  # reload, check, home

    def _commands(self) -> Iterator[tuple[str, Callable[[], Any], str]]:
        from nnlab.tui.app import NnlabApp

        lab = _lab(self.screen)
        if lab is not None:
            yield "scenario: reload", lab.action_reload, "Re-run the file now (r)"
            yield "scenario: check answers", lab.action_check, "Compare your expect: answers (c)"
            yield "scenario: practice", lab.action_practice, "Predict each value before it is shown (t)"
        yield "scenario: home", self._home, "The list of bundled scenarios"
        app = self.app
        if not isinstance(app, NnlabApp):
            return
        try:
            paths = app.scenario_paths()
        except OSError:  # an unreadable library folder: no scenarios to offer
            return
        for p in paths:
            yield f"scenario: open {p.stem}", partial(app.open_lab, str(p)), str(p)

    def _home(self) -> None:
        from nnlab.tui.screens.home import HomeScreen

        app: Any = self.app
        for screen in app.screen_stack:
            if isinstance(screen, HomeScreen):
                while app.screen is not screen:
                    app.pop_screen()
                return
        app.push_screen(HomeScreen())
