"""``nnlab export FILE --to md|tex|html``: a worked solution of a scenario, as a handout.

The numbers, rules and arithmetic are the run's own (see :mod:`nnlab.export`); this
module reads the arguments, writes the file (or standard output) and says where.
"""

from __future__ import annotations

import argparse
import os
import sys

HELP = "write a worked solution as Markdown, LaTeX or HTML"
FORMATS = ("md", "tex", "html")


def configure(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``nnlab export``."""
    parser.add_argument("file", help="a scenario file or the name of a bundled scenario")
    parser.add_argument("--to", choices=FORMATS, required=True, help="the format: md, tex or html")
    parser.add_argument("--out", metavar="PATH", help="write here (default: standard output)")
    parser.add_argument("--phase", choices=("forward", "backward", "all"), default="all",
                        help="only the forward or the backward pass (default all)")
    parser.add_argument("--refs", nargs="+", metavar="REF",
                        help="explain these references with their chain rule (default: the expect: references)")
    parser.add_argument("--answers", action="store_true", help="add the check table and why each wrong answer is wrong")
    parser.add_argument("--digits", type=int, default=4, choices=range(31), metavar="N",
                        help="decimal places, 0 to 30 (default 4)")


def resolve(file: str) -> str:
    """A path as given, or the bundled scenario of that name."""
    if os.path.exists(file):
        return file
    from nnlab.library import find

    found = find(file)
    return str(found) if found else file


def run(args: argparse.Namespace) -> int:
    """Export; 0 on success (errors are raised as ``NnlabError``: exit 2, located)."""
    from nnlab.errors import NnlabError
    from nnlab.export import Options, export
    from nnlab.session import open_session

    path = resolve(args.file)
    if not os.path.exists(path):
        raise NnlabError(f"no such file: {args.file}", hint="`nnlab list` shows the bundled scenarios.")
    session = open_session(path)
    options = Options(phase=args.phase, refs=tuple(args.refs) if args.refs else None, answers=args.answers,
                      digits=args.digits)
    text = export(session, args.to, options)
    if args.out is None or args.out == "-":
        sys.stdout.write(text)
        return 0
    from nnlab.export.files import write

    write(args.out, text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
