"""``nnlab plot FILE KIND``: a terminal plot of a scenario — loss, decision boundary, attention, gradients.

The same plots as the lab's plot pane (``v``), drawn by plotext from
:mod:`nnlab.render.plots`: ``loss`` (loss or mistakes per epoch, the update marked,
the stop reason written on it), ``boundary`` (2-D inputs: the points by class and
the model's decision regions after an update), ``attention`` (the weights, masked
cells marked) and ``gradients`` (the size of ∂target/∂node, node by node). Colour
only on a terminal; piped, it is plain text.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

HELP = "plot training loss, a decision boundary, attention weights or gradient sizes in the terminal"

KINDS = ("loss", "boundary", "attention", "gradients")


def configure(parser: argparse.ArgumentParser) -> None:
    """``FILE KIND [--update K] [--width W] [--height H]``."""
    parser.add_argument("file")
    parser.add_argument("kind", choices=KINDS, help="what to plot")
    parser.add_argument("--update", type=int, metavar="K",
                        help="training: the update to show (default: the last)")
    parser.add_argument("--width", type=int, metavar="W", help="columns (default: the terminal's, at most 100)")
    parser.add_argument("--height", type=int, metavar="H", help="rows (default 24)")


def run(args: argparse.Namespace) -> int:
    """Print the plot; 0 on success (errors are raised as ``NnlabError``)."""
    from nnlab.errors import NnlabError
    from nnlab.render import plots
    from nnlab.session import open_session

    size = shutil.get_terminal_size((80, 24))
    width = args.width or min(100, size.columns)
    height = args.height or 24
    if not (20 <= width <= 400 and 8 <= height <= 200):
        raise NnlabError(f"--width {width} --height {height}: use a width of 20 to 400 and a height of 8 to 200")
    session = open_session(args.file)
    if args.update is not None and session.training is None:
        raise NnlabError("--update: this scenario does not train", hint="leave --update out.")
    plot = plots.make(session, args.kind, args.update)
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    sys.stdout.write(plots.plot_text(plot, width, height, color=colour))
    return 0
