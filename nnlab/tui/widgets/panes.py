"""Small text panes of the lab: the math pane, the status bar and the error panel.

All three show engine or scenario text, so everything goes in as
:class:`rich.text.Text` (``W1[0,1]`` must not be read as markup).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rich.style import Style as RichStyle
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from nnlab.numfmt import fmt


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    def lin(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = rgb
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


@lru_cache(maxsize=64)
def readable(style: RichStyle) -> RichStyle:
    """``style`` with its text in black or white, whichever has the higher WCAG contrast on its
    background (at least 4.58:1 on any colour). Textual's ``color: auto`` picks by perceived
    brightness, which gives 4.4:1 on some themes' accents (solarized's violet)."""
    if style.bgcolor is None:
        return style
    lum = luminance(style.bgcolor.get_truecolor())
    black = (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05)
    return style + RichStyle(color="#000000" if black else "#ffffff")


SCROLL_BINDINGS: list[Binding] = [
    Binding("up", "scroll_up", "Scroll up", show=False),
    Binding("down", "scroll_down", "Scroll down", show=False),
    Binding("pageup", "page_up", "Page up", show=False),
    Binding("pagedown", "page_down", "Page down", show=False),
    Binding("home", "scroll_home", "Top", show=False),
    Binding("end", "scroll_end", "Bottom", show=False),
    Binding("escape", "leave", "Back to elements", show=False),
]
"""Keys of a text pane that has the focus (Tab): it scrolls; Esc gives the arrows back to the lab."""


class OncePerPaint:
    """A Line-API widget's width and base style, worked out once per repaint, not once per row.

    Textual works both out afresh on every call, and a scrolled list (the steps after End,
    the epoch table after an epoch jump) repaints every row of the pane.
    """

    _paint: tuple[int, RichStyle] | None = None

    def render_lines(self, crop: Any) -> Any:
        """Paint ``crop`` with the width and style fixed for the pass."""
        self._paint = (self.scrollable_content_region.width, self.rich_style)  # type: ignore[attr-defined]
        try:
            return super().render_lines(crop)  # type: ignore[misc]
        finally:
            self._paint = None

    def width_and_base(self) -> tuple[int, RichStyle]:
        """``(content width, base style)`` of the pass (worked out here outside one)."""
        return self._paint or (self.scrollable_content_region.width, self.rich_style)  # type: ignore[attr-defined]


class _TextPane(VerticalScroll, can_focus=True, inherit_bindings=False):
    """A pane of text that scrolls from the keyboard once focused (Tab): ↑↓ PgUp PgDn Home End, Esc back.

    A scrolling container around one ``Static`` (a ``Static`` alone does not scroll): the
    text is :attr:`text`, the container grows with it up to its maximum height.
    """

    BINDINGS = SCROLL_BINDINGS
    FOCUS_ON_CLICK = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.body = Static("", markup=False, classes="pane-body")
        self._fits = False
        self.text: Any = Text()
        """What the pane shows (``Text`` or a rich renderable)."""

    def compose(self) -> ComposeResult:
        """The one text body."""
        yield self.body

    def set_text(self, text: Any) -> None:
        """Show ``text``.

        A new layout (which costs two more frames after a key press) only when the text
        does not fit the pane, or did not before: text that fits needs no scroll extent;
        and none while the pane is hidden (the graph view in its place at 80×24): showing
        it again lays it out.
        """
        self.text = text
        if not self.region:  # not on screen
            self.body.update(text, layout=False)
            self._fits = False
            return
        fits = False
        height = self.scrollable_content_region.height
        if isinstance(text, Text) and height:
            width = max(1, self.body.content_region.width or self.scrollable_content_region.width)
            console = self.app.console
            fits = len(console.render_lines(text, console.options.update(width=width), pad=False)) <= height
        self.body.update(text, layout=not (fits and self._fits))
        self._fits = fits

    @property
    def plain(self) -> str:
        """The text shown, without styles."""
        return self.text.plain if isinstance(self.text, Text) else str(self.text)

    def action_leave(self) -> None:
        """Give the arrow keys back to element stepping."""
        self.screen.set_focus(None)


class MathPane(_TextPane):
    """The formula of the current step and the arithmetic of the current element.

    Forward: ``rule``, then ``lhs = arithmetic = value``. Backward: the chain rule
    ``∂T/∂x = ∂T/∂y · ∂y/∂x``, the op's local derivative as a formula with this
    element's numbers, then ``= upstream · local = result``. A note (ties, padding,
    gradient accumulation) follows when the engine gives one. The pane grows with
    what it shows (up to its maximum height) and scrolls (Tab to it, then ↑↓ PgUp PgDn).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._base = Text()
        self.local = ""
        """The local-derivative line shown (from a worker: it needs sympy)."""

    def show(self, step: Any, focus: Any, digits: int, rule: str = "", local: str = "") -> None:
        """Describe ``focus`` (a :class:`~nnlab.tui.model.Focus`) of ``step``."""
        self.local = local
        self._base = math_text(step, focus, digits, rule, local)
        self.set_text(self._base)

    def show_chain(self, chain: str) -> None:
        """Add the symbolic chain rule (plain text from the engine) under the arithmetic."""
        text = self._base.copy()
        text.append("\n\n")
        text.append(chain)
        self.set_text(text)


class AboutPane(_TextPane):
    """The scenario's ``about:`` notes (Markdown, as authors write them), beside the computation."""

    def show(self, about: str) -> None:
        """Show ``about`` (rendered as Markdown), or say there are none."""
        from rich.markdown import Markdown

        self.about = about
        self.set_text(Markdown(about) if about.strip() else Text("(this scenario has no about: notes)",
                                                                 style="italic"))


def math_text(step: Any, focus: Any, digits: int, rule: str = "", local: str = "") -> Text:
    """The math pane's text (separate for tests and the plain-text dump).

    Forward::

        Y[i,j] = Σₐ,ᵦ X[i+a, j+b]·K[a,b]
        Y[0,0] = 0×0 + 1×1 + 3×2 + 4×3 = 19

    Backward (the chain rule, then the numbers, then the result)::

          ∂loss/∂W2[0,1] = ∂loss/∂yhat[0] · ∂yhat[0]/∂W2[0,1]
        upstream · local = (-2.1461)·0.7685
                         = -1.6493
    """
    text = Text(no_wrap=False, overflow="fold")
    ex = focus.explanation
    if ex is None:
        text.append(step.label, style="bold")
        text.append("\n")
        text.append(focus.error or "cannot explain this element", style="italic")
        return text
    value = fmt(_scalar(ex.value), digits)
    lhs = ex.lhs
    arith = ex.arithmetic if len(ex.arithmetic) <= 1200 else ex.arithmetic[:1200] + " …"
    if step.phase == "backward" and ex.formula.startswith(lhs):
        label = "upstream · local"
        width = max(len(lhs), len(label))
        text.append(" " * (width - len(lhs)) + lhs, style="bold")
        text.append(ex.formula[len(lhs):])
        text.append("\n")
        if local:
            text.append("local".rjust(width), style="dim")
            text.append("   " + local + "\n")
        if arith:
            text.append(label.rjust(width), style="dim")
            text.append(" = " + arith + "\n")
        text.append(" " * width + " = ")
        text.append(value, style="bold")
    else:
        if ex.formula:
            text.append(ex.formula, style="bold")
            text.append("\n")
        text.append(f"{lhs} = ", style="bold")
        if arith and arith != value:
            text.append(arith)
            text.append(" = ")
        text.append(value, style="bold")
    if ex.note:
        text.append("\n")
        text.append("note: ", style="bold italic")
        text.append(ex.note, style="italic")
    if rule:
        text.append("\n")
        text.append(rule, style="dim")
    return text


def _scalar(v: Any) -> Any:
    """A NumPy scalar or 0-d array as the Python value it holds (``np.True_`` → ``True``)."""
    return v.item() if getattr(v, "ndim", None) == 0 else v


class StatusBar(Static, can_focus=False):
    """One line: phase, step i of n, element, example/epoch, arithmetic and conventions."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", markup=False, **kwargs)

    def show(self, parts: list[tuple[str, str]]) -> None:
        """Show ``(text, style)`` parts separated by dim bars."""
        items: list[Any] = []
        for k, (part, style) in enumerate(parts):
            if k:
                items.append((" │ ", "dim"))
            items.append((part, style) if style else part)
        self.update(Content.assemble(*items), layout=False)


class ErrorPanel(Vertical, can_focus=False):
    """The error of the last load: ``file:line:col: error: …``, the line, a caret and a hint.

    Shown under the lab (which keeps the last good run) or alone when nothing has
    loaded yet. The message and hint wrap; the source line and its caret never wrap,
    so the caret stays under the right column.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = ""
        self._head = Static("", markup=False, classes="error-head")
        self._code = Static("", markup=False, classes="error-code")
        self._hint = Static("", markup=False, classes="error-hint")

    def compose(self) -> ComposeResult:
        """Message, code with caret, hint."""
        yield self._head
        yield self._code
        yield self._hint

    def show_error(self, message: str) -> None:
        """Show ``message`` (as formatted by ``NnlabError.format``) and make the panel visible."""
        self.message = message
        lines = message.split("\n")
        head, code, hint = [lines[0]], [], []
        for line in lines[1:]:
            if line.startswith("hint:"):
                hint.append(line)
            elif " | " in line[:8] or line.strip().startswith("|"):
                code.append(line)
            elif hint:
                hint.append(line)
            elif code:
                code.append(line)
            else:
                head.append(line)
        self._head.update(Text("\n".join(head), style="bold"))
        self._code.update(Text("\n".join(code), no_wrap=True, overflow="crop"))
        self._code.display = bool(code)
        self._hint.update(Text("\n".join(hint), style="italic"))
        self._hint.display = bool(hint)
        self.display = True

    def clear(self) -> None:
        """Hide the panel."""
        self.message = ""
        self.display = False


class KeyBar(Widget, can_focus=False):
    """The lab's key bar: the screen's bindings in one line, greyed when they cannot apply.

    A single widget drawing one line, in place of Textual's ``Footer`` (a widget per
    key, rebuilt whenever the bindings change): in the lab the bindings change with
    the step, and rebuilding the footer cost more than repainting the whole lab.
    Clicking a key presses it. The command palette key is shown at the right.
    """

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    """

    KEY_STYLE = "bold $footer-key-foreground"
    OFF_STYLE = "$footer-foreground 45%"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._spans: list[tuple[int, int, str]] = []

    def on_mount(self) -> None:
        """Repaint when the screen's bindings change."""
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def _bindings_changed(self, screen: Any) -> None:
        self.refresh()

    def items(self) -> list[tuple[str, str, bool, str]]:
        """``(key shown, description, enabled, key)`` for every binding the bar shows."""
        seen: set[str] = set()
        out = []
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            out.append((self.app.get_key_display(binding), binding.description, enabled, binding.key))
        return out

    def _fitting(self, room: int) -> list[tuple[str, str, bool, str]]:
        """The keys that fit in ``room`` columns: the first ones in order, and always the last two
        (``? Help``, ``q Quit``): on a narrow terminal the rest are in ``?`` and the palette."""
        items = self.items()
        width = sum(len(f" {s} {d}") for s, d, _, _ in items)
        if width <= room or len(items) <= 2:
            return items
        tail = items[-2:]
        left = room - sum(len(f" {s} {d}") for s, d, _, _ in tail)
        head = []
        for item in items[:-2]:
            w = len(f" {item[0]} {item[1]}")
            if w > left:
                break
            head.append(item)
            left -= w
        return head + tail

    def render(self) -> Content:
        """`` → Step  ← Back  …`` and ``^p palette`` at the right."""
        key_style, off_style = self.KEY_STYLE, self.OFF_STYLE
        parts: list[Any] = []
        spans = []
        x = 0
        palette = f" {self.app.get_key_display(Binding(self.app.COMMAND_PALETTE_BINDING, '', ''))} palette "
        for shown, description, enabled, key in self._fitting(self.size.width - len(palette)):
            piece = f" {shown} {description}"
            parts.append((f" {shown}", off_style if not enabled else key_style))
            parts.append((f" {description}", off_style if not enabled else ""))
            spans.append((x, x + len(piece), key))
            x += len(piece)
        width = self.size.width
        if self.app.ENABLE_COMMAND_PALETTE and width > x + len(palette):
            parts.append(" " * (width - x - len(palette)))
            parts.append((palette[: palette.index(" palette")], key_style))  # " ^p"
            parts.append(" palette ")
            spans.append((width - len(palette), width, self.app.COMMAND_PALETTE_BINDING))
        self._spans = spans
        return Content.assemble(*parts)

    def on_click(self, event: events.Click) -> None:
        """Clicking a key presses it."""
        for lo, hi, key in self._spans:
            if lo <= event.x < hi:
                self.app.simulate_key(key.split(",")[0])
                return
