"""The nnlab app: the home screen, the lab, checking answers.

``run_app(file, step)`` is what ``nnlab`` and ``nnlab FILE [--step N|NAME]`` call.
Importing this module imports Textual but not NumPy, SymPy or the engine: the first
frame is painted before the scenario is loaded in a worker.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path
from typing import Any

from textual.app import App
from textual.screen import Screen

from nnlab.tui.commands import LabCommands, ScenarioCommands


class NnlabApp(App[int]):
    """nnlab's terminal lab.

    Args:
        path: A scenario file to open in the lab, or None for the home screen.
        step: Where to start: a 1-based step number or a node name.
        library: A folder of scenarios to list instead of the bundled ones.
    """

    CSS_PATH = str(Path(__file__).with_name("nnlab.tcss"))  # absolute: subclasses live elsewhere (tests)
    TITLE = "nnlab"
    COMMANDS = App.COMMANDS | {LabCommands, ScenarioCommands}
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, path: str | None = None, step: str | None = None, library: str | Path | None = None,
                 practice: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.start_step = step
        self.practice = practice
        self.library = Path(library) if library is not None else None

    def scenario_paths(self) -> list[Path]:
        """The scenarios the home screen lists: the bundled ones (or ``library``'s, for tests)."""
        if self.library is not None:
            return sorted(self.library.glob("*.yaml"))
        from nnlab.library import bundled

        return list(bundled())

    def get_default_screen(self) -> Screen:
        """The first screen: the lab on the file, or the home screen (no blank screen underneath)."""
        if self.path:
            from nnlab.tui.screens.lab import LabScreen

            return LabScreen(self.path, self.start_step, practice=self.practice)
        from nnlab.tui.screens.home import HomeScreen

        return HomeScreen()

    def open_lab(self, path: str, step: str | None = None, replace: bool = False) -> None:
        """Open the lab on ``path`` (on top of the home screen unless ``replace``)."""
        from nnlab.tui.screens.lab import LabScreen

        screen = LabScreen(path, step)
        if replace and len(self.screen_stack) > 1 and isinstance(self.screen, LabScreen):
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def remember_file(self, path: str) -> None:
        """Add ``path`` to the recent files (ignored on any error)."""
        from nnlab.tui.recent import add_recent

        add_recent(path)


def run_app(file: str | None, step: str | None, practice: bool = False) -> int:
    """Run the lab on ``file`` (or the home screen) and return the exit status.

    Quitting ends the process at once, even while a load still runs in a worker (a long
    training, a slow disk): ``asyncio.run`` would wait for that thread, so the app runs
    on a loop that is closed without waiting, and a worker still busy is left behind by
    ``os._exit`` once the terminal is restored.
    """
    app = NnlabApp(file, step, practice=practice)
    loop = asyncio.new_event_loop()
    try:
        result = app.run(loop=loop)
    finally:
        loop.close()  # shuts the worker pool down without waiting for it
    code = int(result or 0) if app.return_code in (None, 0) else int(app.return_code)
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
