"""``nnlab graph FILE``: the computational graph drawn as text, as the lab's graph view shows it.

Variables are boxes with round corners, operations boxes with square ones, arrows
run from inputs down to what they compute. ``--step N`` lights that step (heavy
lines; a backward step's boxes are those whose gradient it computes, the op it
passes through has double lines) and dashes what is not computed yet;
``--values``/``--grads`` write small tensors' numbers into the boxes. Colour only on
a terminal: piped into a file or a note it is plain Unicode box drawing.
"""

from __future__ import annotations

import argparse
import os
import sys

HELP = "draw the computational graph as text (boxes and arrows)"


def configure(parser: argparse.ArgumentParser) -> None:
    """``FILE [--step N] [--values | --grads] [--names] [--digits D]``."""
    parser.add_argument("file")
    parser.add_argument("--step", type=int, metavar="N",
                        help="light step N (1-based, as in the lab and `nnlab run`)")
    numbers = parser.add_mutually_exclusive_group()
    numbers.add_argument("--values", action="store_true", help="write small values into the boxes")
    numbers.add_argument("--grads", action="store_true", help="write small gradients into the boxes")
    parser.add_argument("--names", action="store_true", help="the collapsed form: names only, no boxes")
    parser.add_argument("--digits", type=int, default=4, metavar="D", help="decimal places (default 4)")


def run(args: argparse.Namespace) -> int:
    """Print the drawing; 0 on success (errors are raised as ``NnlabError``)."""
    from nnlab.errors import NnlabError
    from nnlab.render import diagram as dg
    from nnlab.session import open_session

    if not 0 <= args.digits <= 30:
        raise NnlabError(f"--digits {args.digits}: use 0 to 30")
    from nnlab.library import find

    path = args.file if os.path.exists(args.file) else str(find(args.file) or args.file)  # or a bundled name
    session = open_session(path)
    steps = session.steps
    step = None
    if args.step is not None:
        if not 1 <= args.step <= len(steps):
            count = f"steps 1 to {len(steps)}" if len(steps) > 1 else f"{len(steps)} step" + ("s" if not steps else "")
            raise NnlabError(f"--step {args.step}: {os.path.basename(args.file)} has {count}")
        step = steps[args.step - 1]
    run_ = session.run_for(step) if step is not None else session.run
    diagram = dg.diagram_of(run_.graph)
    kind = "grad" if args.grads else "value" if args.values else None
    if kind == "grad" and run_.target is None:
        raise NnlabError("--grads: this scenario has no backward target", hint="use --values, or add backward:")
    numbers = dg.run_numbers(diagram, run_, kind, 0, args.digits) if kind and not args.names else {}
    drawing = dg.draw(diagram, names_only=args.names, value_rows=numbers)
    frame = dg.Frame(values=numbers)
    if step is not None:
        inner = session.inner_step(step) or step
        frame = dg.frame_at(diagram, drawing, dg.progress_of(diagram, run_.steps), inner, numbers)
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        _print_coloured(drawing, frame, step)
    else:
        if step is not None:
            print(f"step {step.index + 1}: {step.label}")
        sys.stdout.write("\n".join(dg.text_lines(drawing, frame)) + "\n")
    return 0


STYLES = {"edge": "", "edge-lit": "bold yellow", "edge-dim": "dim", "node": "", "name": "bold", "meta": "dim",
          "value": "cyan", "lit": "bold yellow", "lit-name": "bold black on yellow", "source": "magenta",
          "source-name": "bold magenta", "dim": "dim"}
"""Colours on a terminal (rich style strings) for each role of :mod:`nnlab.render.diagram`."""


def _print_coloured(drawing, frame, step) -> None:  # noqa: ANN001 - rich and the drawing are imported lazily
    from rich.console import Console
    from rich.text import Text

    from nnlab.render.diagram import paint_row

    console = Console(highlight=False, soft_wrap=True)
    if step is not None:
        console.print(Text(f"step {step.index + 1}: {step.label}", style="bold"))
    for y in range(drawing.height):
        line = Text()
        for text, role in paint_row(drawing, frame, y):
            line.append(text, STYLES.get(role, ""))
        line.rstrip()
        console.print(line)
