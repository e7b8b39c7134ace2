"""The home screen (``nnlab`` with no file): bundled scenarios by topic, recent files, open a path.

Listing is cheap on purpose — titles and topics come from a scan of each file's
top-level ``title:``/``topic:`` lines, no YAML or NumPy — so the first frame is fast.
The preview reads the highlighted file properly (YAML only: about, equations, input
shapes) and then, in a worker, builds its graph to add every computed shape.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Group
from rich.markdown import Markdown
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from nnlab.errors import NnlabError
from nnlab.tui.widgets.panes import KeyBar

_KEY = re.compile(r"^(title|topic):\s*(.*?)\s*$")


def scan_header(path: Path) -> tuple[str, str]:
    """``(title, topic)`` from a file's top-level lines (fast, no YAML)."""
    title = topic = ""
    try:
        with open(path, encoding="utf-8") as f:
            for k, line in enumerate(f):
                if k > 60:
                    break
                m = _KEY.match(line)
                if m:
                    value = m.group(2)
                    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                        value = value[1:-1]
                    if m.group(1) == "title":
                        title = value
                    else:
                        topic = value
    except OSError:
        pass
    return title, topic


def _shape(node: Any) -> str:
    if node.kind == "map":
        shape = node.value.get("shape")
        if shape is None:
            return "group"
        v = shape.to_py()
        v = v if isinstance(v, list) else [v]
        init = node.value.get("init")
        return "×".join(str(s) for s in v) + (f" ({init.value})" if init is not None else "")
    dims = []
    while node.kind == "seq" and node.value:
        dims.append(len(node.value))
        node = node.value[0]
    return "×".join(str(d) for d in dims) if dims else "scalar"


def preview(path: str, extra: str = "") -> Group:
    """The preview: heading, the about text (Markdown, as authors write it), the rest."""
    head, about, rest = preview_parts(path)
    parts: list[Any] = [head]
    if about:
        parts.append(Markdown(about))
    rest.append(extra, style="dim")
    parts.append(rest)
    return Group(*parts)


def preview_text(path: str) -> Text:
    """The preview as plain text (tests and the plain-text dump)."""
    head, about, rest = preview_parts(path)
    return Text("\n").join([head, Text(about), rest])


def preview_parts(path: str) -> tuple[Text, str, Text]:
    """About, equations and input shapes of a scenario, from its YAML alone."""
    from nnlab.scenario.yamlsrc import load_yaml

    text = Text()
    try:
        root = load_yaml(Path(path).read_text(encoding="utf-8"), path)
    except NnlabError as exc:  # shown, never raised
        text.append(os.path.basename(path) + "\n", style="bold")
        text.append(exc.message, style="italic")
        return text, "", Text()
    except (OSError, UnicodeDecodeError) as exc:  # not a readable text file
        text.append(os.path.basename(path) + "\n", style="bold")
        text.append(str(exc), style="italic")
        return text, "", Text()
    get = root.value.get if root.kind == "map" else (lambda k: None)
    title = get("title")
    text.append((str(title.value) if title is not None else os.path.basename(path)) + "\n", style="bold")
    topic = get("topic")
    where = _short(path)
    text.append(f"{topic.value} · {where}\n" if topic is not None and topic.value else f"{where}\n", style="dim")
    about = get("about")
    about_text = str(about.value).strip() if about is not None and about.value else ""
    head, text = text, Text()
    compute = get("compute")
    if compute is not None and compute.kind == "seq":
        text.append("\ncompute\n", style="bold")
        for item in compute.value:
            text.append(f"  {item.raw if item.kind == 'scalar' else '…'}\n")
    for section in ("values", "data"):
        node = get(section)
        if node is not None and node.kind == "map":
            text.append(f"\n{section}\n", style="bold")
            for name, child in node.value.items():
                text.append(f"  {name}  ", style="")
                text.append(_shape(child) + "\n", style="dim")
    backward = get("backward")
    if backward is not None:
        text.append(f"\nbackward from {backward.value}\n", style="bold")
    expect = get("expect")
    if expect is not None and expect.kind == "map":
        text.append(f"\n{len(expect.value)} answers to check\n", style="dim")
    return head, about_text, text


class HomeScreen(Screen):
    """Bundled scenarios grouped by topic, with a preview; recent files; open any path."""

    AUTO_FOCUS = "#scenarios"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", show=True, priority=False),
        Binding("o", "open_path", "Open a path"),
        Binding("escape", "focus_list", "Back to the list", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.paths: dict[str, str] = {}
        self._shapes: dict[str, str] = {}
        self._shown: str | None = None  # the path the preview shows
        self.preview_plain = ""
        """The preview as plain text (what the preview pane shows)."""

    def compose(self) -> ComposeResult:
        """List | preview, path input, footer."""
        yield Static(Text("nnlab — pick a scenario, Enter opens the lab", style="bold"), id="home-title",
                     markup=False)
        with Horizontal(id="home-main"):
            yield OptionList(*self._options(), id="scenarios")
            with VerticalScroll(id="preview-box"):
                yield Static("", id="preview", markup=False)
        yield Input(placeholder="open a file: type a path and press Enter (o)", id="open-path", compact=True)
        yield KeyBar()

    def _options(self) -> list[Any]:
        from nnlab.tui.app import NnlabApp
        from nnlab.tui.recent import load_recent

        groups: dict[str, list[tuple[str, str, str]]] = {}
        paths = self.app.scenario_paths() if isinstance(self.app, NnlabApp) else []
        for p in paths:
            title, topic = scan_header(p)
            groups.setdefault(topic or "other", []).append((p.stem, title, str(p)))
        opts: list[Any] = []
        n = 0
        for topic in sorted(groups, key=lambda t: (t == "other", t)):
            opts.append(Option(Text(topic, style="bold"), id=f"topic:{topic}", disabled=True))
            for stem, title, path in groups[topic]:
                oid = f"s{n}"
                n += 1
                self.paths[oid] = path
                label = Text("  ", no_wrap=True, overflow="ellipsis")
                label.append(stem, style="bold")
                if title:
                    label.append("  " + title, style="dim")
                opts.append(Option(label, id=oid))
        recent = load_recent()
        if recent:
            opts.append(Option(Text("recent files", style="bold"), id="topic:recent", disabled=True))
            for path in recent:
                oid = f"r{n}"
                n += 1
                self.paths[oid] = path
                opts.append(Option(Text("  " + _short(path), no_wrap=True, overflow="ellipsis"), id=oid))
        if not self.paths:
            opts.append(Option(Text("no bundled scenarios found — open a file below"), disabled=True))
        return opts

    def on_mount(self) -> None:
        """Highlight the first scenario."""
        ol = self.query_one("#scenarios", OptionList)
        for k in range(ol.option_count):
            if not ol.get_option_at_index(k).disabled:
                ol.highlighted = k
                break

    @on(OptionList.OptionHighlighted, "#scenarios")
    def show_preview(self, event: OptionList.OptionHighlighted) -> None:
        """Preview the highlighted scenario."""
        path = self.paths.get(event.option.id or "")
        if path is None:
            return
        if path not in self._shapes:
            self._graph_shapes(path)
        self._show(path)

    def _show(self, path: str) -> None:
        """Put the preview of ``path`` (plus its computed shapes, once known) on screen."""
        extra = self._shapes.get(path, "")
        self.preview_plain = preview_text(path).plain + extra
        box = self.query_one("#preview", Static)
        box.update(preview(path, extra))
        self._shown = path

    @work(thread=True, exclusive=True, exit_on_error=False, group="preview")
    def _graph_shapes(self, path: str) -> tuple[str, str]:
        from nnlab.engine.graph import build_graph
        from nnlab.scenario.model import load

        try:
            graph = build_graph(load(path))
        except NnlabError as exc:
            return path, f"\ndoes not load: {exc.message}\n"
        parts = [f"{nid} {'×'.join(str(s) for s in n.shape) or 'scalar'}"
                 for nid, n in graph.nodes.items() if n.kind == "op" and n.named]
        return path, "\nshapes  " + ", ".join(parts) + "\n"

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Add computed shapes to the preview (errors: show the message)."""
        if event.worker.group != "preview":
            return
        if event.state == WorkerState.SUCCESS:
            path, shapes = event.worker.result
            self._shapes[path] = shapes
            if self._shown == path:
                self._show(path)
        elif event.state == WorkerState.ERROR and self._shown:  # a bug, or an unreadable file: said
            self._shapes[self._shown] = f"\ndoes not load: {event.worker.error}\n"
            self._show(self._shown)

    @on(OptionList.OptionSelected, "#scenarios")
    def open_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter or click on a scenario opens the lab."""
        path = self.paths.get(event.option.id or "")
        if path:
            self.app.open_lab(path)  # type: ignore[attr-defined]

    def action_open(self) -> None:
        """Open the highlighted scenario."""
        ol = self.query_one("#scenarios", OptionList)
        if ol.highlighted is not None:
            path = self.paths.get(ol.get_option_at_index(ol.highlighted).id or "")
            if path:
                self.app.open_lab(path)  # type: ignore[attr-defined]

    @on(Input.Submitted, "#open-path")
    def open_typed_path(self, event: Input.Submitted) -> None:
        """Open the typed path (or a bundled scenario's name)."""
        raw = os.path.expanduser(event.value.strip())
        if not raw:
            return
        path = raw
        if not os.path.exists(path):
            from nnlab.library import find

            found = find(raw)
            if found is None:
                self.notify(f"no such file: {raw}", severity="error")
                return
            path = str(found)
        if os.path.isdir(path):
            self.notify(f"{raw} is a directory; give a .yaml file", severity="error")
            return
        self.app.open_lab(path)  # type: ignore[attr-defined]

    def action_open_path(self) -> None:
        """Focus the path box."""
        self.query_one("#open-path", Input).focus()

    def action_focus_list(self) -> None:
        """Back to the list."""
        self.query_one("#scenarios", OptionList).focus()

    def action_quit(self) -> None:
        """Leave nnlab."""
        self.app.exit()


def _short(path: str) -> str:
    from nnlab.library import scenarios_dir

    try:
        if Path(path).resolve().parent == scenarios_dir().resolve() or not os.path.isabs(path):
            return Path(path).name
    except OSError:
        pass
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if path.startswith(home + os.sep) else path
