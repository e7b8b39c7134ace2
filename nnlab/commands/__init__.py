"""Subcommands that live in a module of their own, registered by being in this package.

Each module ``nnlab/commands/NAME.py`` is the command ``nnlab NAME`` and defines:

- ``HELP``: the one-line help shown by ``nnlab --help``;
- ``configure(parser)``: adds its arguments to its ``argparse`` sub-parser;
- ``run(args) -> int``: does the work and returns the exit code (0, 1 or 2).

``nnlab/cli.py`` imports these modules while building its parser, so a module here
imports only the standard library at the top; anything heavier (textual, sympy,
plotting, the engine) is imported inside ``run``. Errors are raised as ``NnlabError``:
the CLI prints them located, with exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def command_modules() -> dict[str, ModuleType]:
    """The command modules of this package by command name, in name order."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return {name: importlib.import_module(f"{__name__}.{name}") for name in names}
