"""The ``nnlab`` command: ``run``, ``check``, ``validate``, ``list`` — and the lab.

A thin layer over the core. Heavy modules are imported inside the commands that need
them: ``nnlab check`` and ``nnlab --help`` never import textual or sympy, and
``check`` prints its table without rich so it starts about as fast as
``python -c "import numpy, yaml"``. Every user error is printed as
``file:line:col: error: …`` with the line and a caret, exit code 2 — never a traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from nnlab import __version__

if TYPE_CHECKING:
    import argparse

BUILTIN_COMMANDS = ("run", "check", "validate", "list", "explain", "new", "schema")
EXIT_OK, EXIT_MISMATCH, EXIT_INVALID = 0, 1, 2


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; for a built-in ``command`` the command modules are not imported (``nnlab check`` stays light)."""
    import argparse

    plain, raw = _formatters()
    p = argparse.ArgumentParser(
        prog="nnlab",
        description="A terminal lab for stepping through neural-network computations.\n\n"
                    "  nnlab                 open the home screen (bundled scenarios)\n"
                    "  nnlab FILE            open the lab on a scenario\n"
                    "  nnlab COMMAND …       run, check, validate, list (see below)",
        formatter_class=raw,
    )
    p.add_argument("--version", action="version", version=f"nnlab {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    add = functools.partial(sub.add_parser, formatter_class=plain)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--max-elements", type=_positive_int, default=None, metavar="N",
                        help="refuse tensors larger than N elements (default: the file's options.max_elements, "
                             "else 50,000,000)")
        sp.add_argument("--max-memory", type=_byte_size, default=None, metavar="SIZE",
                        help="the memory budget of a run, e.g. 2G (default: half the machine's memory, "
                             "at most 8G; or NNLAB_MAX_MEMORY)")

    r = add("run", help="print every step of a scenario")
    r.add_argument("file")
    r.add_argument("--phase", choices=("forward", "backward", "update"), help="only this phase")
    r.add_argument("--explain", metavar="REF", help="explain one element, e.g. 'Y[0,0]' or 'grad(W1)[0,1]'")
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.add_argument("--digits", type=_digits, default=4, help="decimal places, 0 to 30 (default 4)")
    r.add_argument("--symbolic", action="store_true", help="add each step's symbolic rule (needs sympy)")
    common(r)

    c = add("check", help="check the scenario's expect: answers")
    c.add_argument("file")
    c.add_argument("--json", action="store_true", help="print a JSON list of {ref, expected, actual, ok}")
    common(c)

    v = add("validate", help="validate scenario files")
    v.add_argument("files", nargs="+")
    common(v)

    add("list", help="list the bundled scenarios")
    add("schema", help="print the JSON Schema of the scenario format")
    from nnlab.templates import TEMPLATES

    n = add("new", help="write a commented starter scenario")
    n.add_argument("topic", choices=sorted(TEMPLATES))
    n.add_argument("path", nargs="?", help="where to write it (default: my-TOPIC.yaml)")

    e = add("explain", help="explain one element of a scenario")
    e.add_argument("file")
    e.add_argument("ref", help="e.g. 'Y[0,0]', 'grad(W1)[0,1]', 'yhat[3]' (example 3), "
                                "'epoch(2).grad(w)[0]' (training)")
    e.add_argument("--digits", type=_digits, default=4, help="decimal places, 0 to 30 (default 4)")
    common(e)

    if command not in BUILTIN_COMMANDS:
        for name, module in _command_modules().items():
            module.configure(add(name, help=module.HELP))
    return p


@functools.cache
def _formatters() -> tuple[type, type]:
    """argparse's help formatters (plain and raw description), reading the terminal width as
    :func:`shutil.get_terminal_size` does without importing shutil (argparse's default imports it,
    with bz2, lzma and zlib: 2.5 ms of a start)."""
    import argparse

    class Width:
        def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                     width: int | None = None) -> None:
            super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)

    class Help(Width, argparse.HelpFormatter):
        pass

    class RawHelp(Width, argparse.RawDescriptionHelpFormatter):
        pass

    return Help, RawHelp


def _columns() -> int:
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


def _command_modules() -> dict[str, Any]:
    from nnlab.commands import command_modules

    return command_modules()


def _is_command(word: str) -> bool:
    if word in BUILTIN_COMMANDS:
        return True
    from nnlab.commands import __path__ as package_path

    return os.path.isfile(os.path.join(package_path[0], f"{word}.py")) and not word.startswith("_")


def _lab_parser() -> argparse.ArgumentParser:
    import argparse

    p = argparse.ArgumentParser(prog="nnlab", description="Open the lab on a scenario file.",
                                formatter_class=_formatters()[0])
    p.add_argument("file", nargs="?")
    p.add_argument("--step", help="start at step N or at a node name")
    p.add_argument("--practice", action="store_true", help="practice mode: predict each value before it is shown")
    p.add_argument("--version", action="version", version=f"nnlab {__version__}")
    return p


def _positive_int(text: str) -> int:
    import argparse  # loaded: only argparse calls this

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _digits(text: str) -> int:
    import argparse  # loaded: only argparse calls this

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= 30:
        raise argparse.ArgumentTypeError(f"must be 0 to 30: {text!r}")
    return value


def _byte_size(text: str) -> int:
    import argparse  # loaded: only argparse calls this

    from nnlab.limits import parse_bytes

    value = parse_bytes(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (write e.g. 2G, 512M)")
    return value


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``nnlab`` console script.

    Whatever the input, this returns 0, 1 or 2 (130 after Ctrl-C) and prints a located
    error or a one-line reason — never a traceback. Run as the console script, Ctrl-C
    ends the process at once (the default action of SIGINT, which a shell reports as
    130) even inside a long NumPy or big-integer computation that would hold off
    Python's KeyboardInterrupt.
    """
    console = argv is None
    argv = sys.argv[1:] if argv is None else argv
    try:
        if console:
            import signal

            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not if a parent ignores it
                signal.signal(signal.SIGINT, signal.SIG_DFL)
        code = _main(argv, console)
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `nnlab run … | head`: the reader has gone
        _drop_stdout()
        return EXIT_OK
    except OSError as exc:  # stdout on a full disk (/dev/full), a closed terminal…
        _drop_stdout()
        print(f"error: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INVALID


def _drop_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests capture stdout)
        pass


def _quick_args(argv: list[str]) -> SimpleNamespace | None:
    """The arguments of ``check FILE [--json]`` and ``validate FILE…`` read without argparse, exactly as
    its parser reads them (importing argparse and building the parser is 3 ms of a 100 ms ``nnlab check``);
    None for anything else (any other option, a name starting with ``-``, ``--help``…): the parser reads it."""
    command, rest = argv[0], argv[1:]
    if command not in ("check", "validate"):
        return None
    flags = [a for a in rest if a == "--json"] if command == "check" else []
    files = [a for a in rest if a != "--json"] if command == "check" else rest
    if not files or any(not f or f.startswith("-") for f in files) or len(flags) > 1:
        return None
    if command == "validate":
        return SimpleNamespace(command=command, files=files, max_elements=None, max_memory=None)
    if len(files) != 1:
        return None
    return SimpleNamespace(command=command, file=files[0], json=bool(flags), max_elements=None, max_memory=None)


def _main(argv: list[str], console: bool) -> int:
    if argv and (_is_command(argv[0]) or argv[0] in ("-h", "--help")):
        args = _quick_args(argv) or _parser(argv[0]).parse_args(argv)
        if getattr(args, "max_memory", None) is not None:
            from nnlab.limits import set_memory_budget

            set_memory_budget(args.max_memory)
        if console and args.command in ("run", "check", "validate", "explain"):
            _cap_process_memory()
            _collect_less_often()
        code = _dispatch(args)
        if console:
            _skip_final_collection()
        return code
    args = _lab_parser().parse_args(argv)
    missing = args.file is not None and not os.path.exists(_resolve_path(args.file))
    if not missing and not (sys.stdin.isatty() and sys.stdout.isatty()):  # a pipe, cron, CI: it would wait forever
        instead = (f"for text output use `nnlab check {args.file}` or `nnlab run {args.file}`" if args.file
                   else "`nnlab list` lists the bundled scenarios, `nnlab --help` the commands")
        print(f"error: the lab needs a terminal; {instead}", file=sys.stderr)
        return EXIT_INVALID
    return _open_lab(args.file, args.step, args.practice)


def _collect_less_often() -> None:
    """Let the cyclic garbage collector wait for 100,000 new objects instead of 700 (a console command
    only: a short process that reads files and prints).

    What a command computes is freed by reference counting: ``nnlab validate`` of every bundled
    file leaves no cyclic garbage behind (a test checks it), so a collection only walks what is
    still alive — the modules imported on first use, the parse caches — and frees nothing. At
    the default threshold it walked them again and again; at 20,000 it still took 7 ms of
    ``nnlab validate scenarios/*.yaml``, which now makes fewer new objects than one collection
    waits for. The collector still runs on a long command that makes cycles. What is loaded
    before the command is frozen: it lives to the end, and no collection walks it.
    """
    import gc

    gc.set_threshold(100_000, 2, 2)
    gc.freeze()


def _skip_final_collection() -> None:
    """Spare the exiting interpreter its last full collection (a console command only).

    At exit CPython walks every object for cycles before freeing the modules: about 10 ms
    after ``import numpy`` alone and 20 ms after ``nnlab validate`` of the bundled files,
    for memory the process is about to give back. Frozen objects are left out of that walk.
    Nothing is lost: files are closed by ``with`` blocks, stdout and stderr are flushed by
    the interpreter as before, and objects not in a cycle are still freed one by one.
    """
    import gc

    gc.freeze()


def _cap_process_memory() -> None:
    """Make the memory budget the process's data limit (RLIMIT_DATA), so an allocation
    beyond it fails as a MemoryError (reported cleanly) instead of swapping the machine.

    The engine refuses what it can foresee (tensor sizes, training length) before it
    starts; this is the backstop for what it cannot (scratch space, expect expressions).
    Only the console script does this: the library leaves its host process alone.
    """
    try:
        import resource

        from nnlab.limits import memory_budget

        with open("/proc/self/status", encoding="ascii") as status:
            used = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmData:"))
        soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        want = used + memory_budget() + (512 << 20)  # room for the interpreter, sympy, rich
        if (soft == resource.RLIM_INFINITY or want < soft) and (hard == resource.RLIM_INFINITY or want <= hard):
            resource.setrlimit(resource.RLIMIT_DATA, (want, hard))
    except (OSError, ValueError, StopIteration, ImportError):  # not Linux: the engine's own checks remain
        pass


def _dispatch(args: argparse.Namespace) -> int:
    from nnlab.errors import NnlabError

    try:
        if args.command == "list":
            return cmd_list()
        if args.command == "schema":
            import json

            from nnlab.scenario.schema import scenario_schema

            print(json.dumps(scenario_schema(), indent=2, ensure_ascii=False))
            return EXIT_OK
        if args.command == "new":
            return cmd_new(args.topic, args.path)
        if args.command == "validate":
            return cmd_validate(args.files, args.max_elements)
        if args.command == "check":
            return cmd_check(args.file, args.json, args.max_elements)
        if args.command == "run":
            return cmd_run(args)
        if args.command == "explain":
            args.phase, args.json, args.explain, args.symbolic = None, False, args.ref, True
            return cmd_run(args)
        if args.command not in BUILTIN_COMMANDS:
            return _command_modules()[args.command].run(args)
    except NnlabError as exc:
        _print_error(exc)
        return EXIT_INVALID
    except Exception as exc:  # noqa: BLE001 - never a traceback
        if _output_failed(exc):
            raise
        _print_error(unexpected_error(exc, getattr(args, "file", None)))
        return EXIT_INVALID
    return EXIT_OK


def _output_failed(exc: BaseException) -> bool:
    """Whether writing our own output failed (a closed pipe, a full disk): main() reports that once."""
    import errno

    return isinstance(exc, OSError) and exc.errno in (errno.EPIPE, errno.ENOSPC, errno.EIO, errno.EBADF) \
        and not exc.filename


def unexpected_error(exc: BaseException, file: str | None) -> Any:
    """An exception nnlab did not foresee, as a one-line :class:`NnlabError` naming the file.

    Running out of memory or nesting too deeply is the input's doing and says so; any
    other exception is a bug in nnlab, reported in one line (type and message) instead
    of a traceback.
    """
    from nnlab.errors import Location, NnlabError
    from nnlab.limits import fmt_bytes, memory_budget

    loc = Location(file) if file else None
    if isinstance(exc, MemoryError):
        return NnlabError(f"out of memory: this needs more than the memory budget of {fmt_bytes(memory_budget())} "
                          "or than the machine has", loc, "make the tensors smaller, or raise the budget with "
                          "--max-memory.", kind="memory")
    if isinstance(exc, RecursionError):
        return NnlabError("an expression or list nests too deeply for nnlab to follow", loc,
                          "split the long expression into several compute lines.", kind="size")
    if isinstance(exc, OSError):
        name = f" {exc.filename}" if exc.filename else ""
        return NnlabError(f"cannot access{name}: {exc.strerror or exc}", loc, kind="file")
    text = " ".join(str(exc).split())
    text = text if len(text) <= 160 else text[:159] + "…"
    return NnlabError(f"nnlab failed on this input ({type(exc).__name__}: {text}); this is a bug in nnlab, "
                      "please report it with the file", loc, kind="internal")


def _print_error(exc: Any) -> None:
    text = exc.format()
    if sys.stderr.isatty():
        head, _, rest = text.partition("\n")
        text = f"\033[1;31m{head}\033[0m" + ("\n" + rest if rest else "")
    print(text, file=sys.stderr)


def _resolve_path(file: str) -> str:
    """A path as given, or the bundled scenario of that name."""
    if os.path.exists(file):
        return file
    from nnlab.library import find

    found = find(file)
    return str(found) if found else file


def _load_and_run(file: str, max_elements: int, shapes: str = "fallback") -> Any:
    if shapes == "validate":  # (session, what was left out): see cmd_validate
        return _validate(file, max_elements)
    from nnlab.session import open_session

    return open_session(_resolve_path(file), max_elements=max_elements, shapes=shapes)


# ----------------------------------------------------------------------- commands


def cmd_list() -> int:
    """Print the bundled scenarios, one per line: name, topic, title."""
    from nnlab.library import bundled
    from nnlab.scenario.yamlsrc import read_header

    rows = []
    for path in bundled():
        try:
            head = read_header(path.read_text(encoding="utf-8"))  # stops once title and topic are read
        except (OSError, UnicodeDecodeError):  # a broken bundled file still gets listed
            head = {"title": "(invalid)"}
        rows.append((path.stem, head.get("topic", ""), head.get("title", "")))
    w0 = max((len(r[0]) for r in rows), default=0)
    w1 = max((len(r[1]) for r in rows), default=0)
    for name, topic, title in rows:
        print(f"{name.ljust(w0)}  {topic.ljust(w1)}  {title}")
    return EXIT_OK


def cmd_new(topic: str, path: str | None) -> int:
    """Write a starter scenario; refuse to overwrite an existing file."""
    from pathlib import Path

    from nnlab.templates import TEMPLATES

    target = Path(path or f"my-{topic}.yaml")
    if target.exists():
        print(f"error: {target} exists; choose another path", file=sys.stderr)
        return EXIT_INVALID
    if not target.parent.is_dir():
        print(f"error: cannot write {target}: the directory {target.parent} does not exist", file=sys.stderr)
        return EXIT_INVALID
    schema = Path(__file__).resolve().parent / "scenario.schema.json"
    text = f"# yaml-language-server: $schema={schema.as_uri()}\n" + TEMPLATES[topic]
    try:
        out = open(target, "x", encoding="utf-8")  # "x": never overwrite a file made meanwhile
    except OSError as exc:
        print(f"error: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INVALID
    try:
        with out:
            out.write(text)
    except OSError as exc:
        target.unlink(missing_ok=True)  # ours, half-written: nothing left behind
        print(f"error: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INVALID
    print(f"wrote {target} — open it with `nnlab {target}` or check it with `nnlab check {target}`")
    return EXIT_OK


def cmd_validate(files: list[str], max_elements: int) -> int:
    """Check each file as ``run``/``check`` read it, without training it to the end; print OK or the error.

    Valid means: the YAML and its format, the values and data (sizes, memory), the graph
    (names, arguments, shapes), the ``backward`` target, the ``train:`` block, and the
    computation itself at the values written — one forward and backward pass, which
    finds what only numbers show (a log of 0, a class index out of range, exact
    fractions outgrowing their bound). A training is checked by its first epoch (every
    update of it, so the block, the batches and the update rule run) and by its
    ``max_updates`` bound; later epochs are not run: where a training goes (it may
    diverge to nan after 300 epochs) is what it teaches, shown by ``run``/``check``/the
    lab, not a property of the file. A shape question's file (``shapes only``) is checked
    as ``check`` reads it.
    """
    from nnlab.errors import NnlabError

    status = EXIT_OK
    for f in files:
        try:
            session, how = _load_and_run(f, max_elements, "validate")
            n = len(session.steps)
            session = None  # freed before the next file is read, not after: its arrays may fill the budget
            print(f"{f}: OK ({n} step{'' if n == 1 else 's'}{how})")
        except NnlabError as exc:
            _print_error(exc)
            status = EXIT_INVALID
        except Exception as exc:  # noqa: BLE001 - one file's bug stops neither the others nor the command
            if _output_failed(exc):
                raise
            _print_error(unexpected_error(exc, f))
            status = EXIT_INVALID
    return status


def _validate(file: str, max_elements: int) -> tuple[Any, str]:
    """The session ``validate`` checks a file by, and what it left out (``""``: nothing)."""
    from nnlab.limits import DEFAULT_MAX_UPDATES
    from nnlab.scenario import load
    from nnlab.session import run_or_shapes, session_from_scenario

    scenario = load(_resolve_path(file), max_elements=max_elements, shapes_fallback=True)  # as run reads it
    t = scenario.train
    epochs = t.get("epochs") if t else None
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs <= 1:
        return run_or_shapes(scenario, max_elements), ""  # no training, one epoch, or an epochs error to report
    first = session_from_scenario(scenario._replace(train={**t, "epochs": 1}))
    if first.training is None:  # it failed as its expect: {error: …} says
        return first, ""
    most = scenario.options.get("max_updates", DEFAULT_MAX_UPDATES)
    if epochs * len(first.training.records) > most:
        session_from_scenario(scenario)  # refused before training starts, with the message run gives
    return first, f" in epoch 1 of {epochs}; later epochs not run"


def cmd_check(file: str, as_json: bool, max_elements: int) -> int:
    """Check the answers; exit 0 all pass, 1 a mismatch, 2 invalid file.

    A shape question (every reference ``shape``/``size``/``params``) is answered from shapes
    alone. With ``--json`` an invalid file prints ``{"error", "kind", "file", "line", "column",
    "source", "hint"}`` on stdout (and the usual located message on stderr), exit 2.
    """
    if not as_json:
        session = _load_and_run(file, max_elements, "prefer")
        report = session.check()
        print(render_check(session, report, color=sys.stdout.isatty()))
        return EXIT_OK if report.ok else EXIT_MISMATCH
    import json

    from nnlab.errors import NnlabError
    from nnlab.numfmt import json_safe

    try:
        session = _load_and_run(file, max_elements, "prefer")
        report = session.check()
    except Exception as exc:  # noqa: BLE001 - an invalid file is a JSON object too, never a traceback
        if _output_failed(exc):
            raise
        error = exc if isinstance(exc, NnlabError) else unexpected_error(exc, file)
        d = error.as_dict()
        print(json.dumps({"error": d["error"], "kind": d["kind"], "file": d["file"],
                          "line": d["line"] or None, "column": d["col"] or None, "source": d["source"] or None,
                          "hint": d["hint"]}, indent=2, ensure_ascii=False))
        _print_error(error)
        return EXIT_INVALID
    print(json.dumps(json_safe([i.as_json() for i in report.items]), indent=2))
    return EXIT_OK if report.ok else EXIT_MISMATCH
    print(render_check(session, report, color=sys.stdout.isatty()))
    return EXIT_OK if report.ok else EXIT_MISMATCH


def render_check(session: Any, report: Any, color: bool = False) -> str:
    """The check table as plain text (aligned columns, ✓/✗)."""
    import math

    from nnlab.engine.shapes import arithmetic_label

    from nnlab.numfmt import as_float, fmt

    def show(v: Any) -> str:
        import numpy as np

        if v is None:
            return "—"
        if isinstance(v, str):  # expect: {error: …}: what the run failed with
            return v
        a = np.asarray(v)
        if a.dtype == bool or isinstance(v, bool):
            return str(bool(a.reshape(-1)[0])).lower() if a.size == 1 else str(a.tolist())
        def num(x: Any) -> str:
            f = as_float(x)
            return fmt(x) if not math.isfinite(f) or f == int(f) else f"{f:.6g}"

        if a.ndim == 0:
            return num(a.item())
        if a.size <= 16:
            def nested(x: Any) -> str:
                return "[" + ", ".join(nested(v) for v in x) + "]" if isinstance(x, list) else num(x)

            return nested(a.tolist())
        flat = [num(x) for x in a.reshape(-1)[:8].tolist()]  # only what is shown
        return "[" + ", ".join(flat) + ", …]" + f" shape {list(a.shape)}"

    green, red, dim, bold, off = ("\033[32m", "\033[31m", "\033[2m", "\033[1m", "\033[0m") if color else ("",) * 5
    title = session.scenario.title
    rows = [("reference", "expected", "computed", "")]
    for item in report.items:
        actual = show(item.actual) if item.error is None else item.error
        rows.append((item.ref, item.expected, actual if not item.unanswered else "(hidden)",
                     "✓" if item.ok else "unanswered" if item.unanswered else "✗"))
    widths = [min(max(len(r[i]) for r in rows), 40) for i in range(3)]
    arithmetic = session.training.arithmetic if session.training is not None else session.run.arithmetic
    mode = arithmetic_label(arithmetic)
    lines = [f"{bold}{title}{off}  ({mode})", ""]
    if session.training is not None:
        lines[1:1] = [session.training.summary()]
    for k, (ref, exp, act, mark) in enumerate(rows):
        line = f"  {ref.ljust(widths[0])}  {exp.ljust(widths[1])}  {act.ljust(widths[2])}  "
        if k == 0:
            lines.append(f"{dim}{line}{off}")
            continue
        lines.append(line + (f"{green}{mark}{off}" if mark == "✓" else f"{dim}{mark}{off}" if mark == "unanswered"
                             else f"{red}{mark}{off}"))
        lines.extend(f"{dim}{why}{off}" for why in _why_lines(session, report.items[k - 1]))
    n_ok = sum(i.ok for i in report.items)
    lines.append("")
    if not report.items:
        lines.append("no expect: entries to check")
    elif report.ok:
        lines.append(f"{green}{'the answer matches' if n_ok == 1 else f'all {n_ok} answers match'}{off}")
    elif all(i.ok or i.unanswered for i in report.items):
        open_ = sum(i.unanswered for i in report.items)
        lines.append(f"{n_ok} right, {open_} unanswered (`?`): write your answers in place of the `?` "
                     "and check again")
    else:
        first = report.first_mistake
        where = ""
        step = first.step if first.step is not None else next(
            (f.step for f in first.diagnosis if f.step is not None), None)  # e.g. a shape: where it is made
        if step is not None and step < len(session.steps):
            st = session.steps[step]
            where = f" — look at step {step + 1} ({st.phase}: {st.label})"
        carried = sum(i.carried for i in report.items if not i.ok)
        kind = "first independent mistake" if carried else "first mistake"
        open_ = sum(i.unanswered for i in report.items)
        lines.append(f"{red}{len(report.items) - n_ok - open_} of {len(report.items)} answers differ{off}"
                     + (f" ({carried} carried from an earlier one)" if carried else "")
                     + (f", {open_} unanswered" if open_ else "")
                     + f"; {kind}: {first.ref}{where}")
    notice = _step_zero_notice(session)
    if notice:
        lines.append(notice)
    return "\n".join(lines)


def _why_lines(session: Any, item: Any) -> list[str]:
    """The lines under a row of the check table: why a ✗ (and a ✓ accepted via the user's own values)."""
    out = []
    if item.unanswered:
        return out
    if item.ok and item.via:
        out.append(f"      ✓ right for your own {', '.join(item.via)} (follow-through; tolerance {item.tolerance})")
        return out
    if item.ok or item.error is not None:
        return out
    if isinstance(item.actual, str):  # expect: {error: …}: the computed column says what happened
        from nnlab.session import error_reason

        return [f"      why: {error_reason(str(item.expected), session.failure)}"]
    for f in item.diagnosis:
        step = ""
        if f.step is not None and f.step < len(session.steps):
            step = f" [step {f.step + 1}]"
        out.append(f"      why ({f.id}): {f.message}{step}")
    if not item.diagnosis:
        out.append(f"      why: no known mistake reproduces this answer (tolerance {item.tolerance or 'exact'})")
    else:
        out.append(f"      tolerance {item.tolerance or 'exact'}")
    return out


def _step_zero_notice(session: Any) -> str | None:
    """A note when a ``step`` saw exactly 0 (only scenarios with a step op load the diagnosis module)."""
    if not any(n.op is not None and n.op.name == "step" for n in session.run.graph.nodes.values()):
        return None
    from nnlab.diagnosis import step_zero_notice

    return step_zero_notice(session)


def cmd_run(args: argparse.Namespace) -> int:
    """Print every step (or one explanation); a training run prints one line per epoch."""
    from nnlab.engine.run import to_float

    session = _load_and_run(args.file, args.max_elements)
    if args.explain:
        return _explain(session, args.explain, args.digits, getattr(args, "symbolic", False))
    if session.training is not None:
        steps = []
    else:
        steps = [s for s in session.steps if args.phase is None or s.phase == args.phase]
    import json

    from nnlab.numfmt import json_safe

    if args.json and session.training is not None:
        tr = session.training
        print(json.dumps(json_safe({
            "title": session.scenario.title, "arithmetic": tr.arithmetic, "summary": tr.summary(),
            "facts": tr.facts(),
            "epochs": [{k: to_float(v[0]).tolist() for k, v in tr.snapshots[tr.epoch_end[e]].items()}
                       for e in range(tr.epochs + 1)]}), indent=1, default=str))
        return EXIT_OK
    if args.json:
        print(json.dumps(json_safe({"title": session.scenario.title, "arithmetic": session.run.arithmetic,
                                    "steps": [session.step_json(s) for s in steps]}), indent=1))
        return EXIT_OK
    from nnlab.render.console import print_run

    print_run(session, steps, args.digits, symbolic=getattr(args, "symbolic", False))
    notice = _step_zero_notice(session)
    if notice:
        print(notice)
    return EXIT_OK


def _explain(session: Any, ref: str, digits: int, symbolic: bool) -> int:
    from nnlab.errors import NnlabError

    try:
        quantity = session.explain_quantity(ref)
        if quantity is not None:
            print("\n".join(quantity))
            return EXIT_OK
        found = session.explain_ref(ref, digits=digits)
        run, plain_ref, context = session.ref_context(ref)
    except NnlabError as exc:
        _print_error(exc)
        return EXIT_INVALID
    if context:
        print(f"with {context}")
    for step, ex in found:
        print(f"step {step.index + 1} ({step.phase}: {step.label})")
        print(f"  {ex.formula}")
        print(f"  {ex.text}")
        if ex.note:
            print(f"  note: {ex.note}")
    if symbolic:
        _print_symbolic(run, plain_ref, found, digits)
    return EXIT_OK


def _print_symbolic(run: Any, ref: str, found: list, digits: int) -> None:
    """The sympy-derived chain (for a gradient) or rule (for a value) of an explained element."""
    from nnlab.errors import NnlabError

    try:
        from nnlab.symbolic.chain import chain_for, format_chain
        from nnlab.symbolic.rules import step_rule
    except ImportError as exc:  # pragma: no cover - sympy is a dependency
        print(f"(symbolic output unavailable: {exc})")
        return
    print()
    try:
        if ref.replace(" ", "").startswith("grad("):
            print(format_chain(chain_for(run, ref), digits))
        else:
            for step, _ in found:
                for line in step_rule(run, step).lines:
                    print(f"  {line}")
    except NnlabError as exc:
        print(f"(no symbolic chain: {exc.message})")
    except Exception as exc:  # noqa: BLE001 - the numeric answer above stands on its own
        print(f"(no symbolic form: {exc})")


def _open_lab(file: str | None, step: str | None, practice: bool = False) -> int:
    from nnlab.errors import NnlabError

    if file is not None:
        file = _resolve_path(file)
        if not os.path.exists(file):
            _print_error(NnlabError(f"no such file: {file}", hint="`nnlab list` shows the bundled scenarios."))
            return EXIT_INVALID
    try:
        from nnlab.tui.app import run_app
    except ImportError as exc:  # pragma: no cover - the lab is optional while it is being built
        print(f"the lab is not available: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return run_app(file, step, practice)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
