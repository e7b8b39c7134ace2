"""The ``nnlab`` command: ``run``, ``check``, ``validate``, ``list`` — and the lab.

A thin layer over the core. Heavy modules are imported inside the commands that need
them: ``nnlab check`` and ``nnlab --help`` never import textual or sympy, and
``check`` prints its table without rich so it starts about as fast as
``python -c "import numpy, yaml"``. Every user error is printed as
``file:line:col: error: …`` with the line and a caret, exit code 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from nnlab import __version__

COMMANDS = ("run", "check", "validate", "list", "explain", "new", "schema")
EXIT_OK, EXIT_MISMATCH, EXIT_INVALID = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nnlab",
        description="A terminal lab for stepping through neural-network computations.\n\n"
                    "  nnlab                 open the home screen (bundled scenarios)\n"
                    "  nnlab FILE            open the lab on a scenario\n"
                    "  nnlab COMMAND …       run, check, validate, list (see below)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"nnlab {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--max-elements", type=int, default=50_000_000, metavar="N",
                        help="refuse tensors larger than N elements (default 50,000,000)")

    r = sub.add_parser("run", help="print every step of a scenario")
    r.add_argument("file")
    r.add_argument("--phase", choices=("forward", "backward", "update"), help="only this phase")
    r.add_argument("--explain", metavar="REF", help="explain one element, e.g. 'Y[0,0]' or 'grad(W1)[0,1]'")
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.add_argument("--digits", type=int, default=4, help="decimal places (default 4)")
    r.add_argument("--symbolic", action="store_true", help="add each step's symbolic rule (needs sympy)")
    common(r)

    c = sub.add_parser("check", help="check the scenario's expect: answers")
    c.add_argument("file")
    c.add_argument("--json", action="store_true", help="print a JSON list of {ref, expected, actual, ok}")
    common(c)

    v = sub.add_parser("validate", help="validate scenario files")
    v.add_argument("files", nargs="+")
    common(v)

    sub.add_parser("list", help="list the bundled scenarios")
    sub.add_parser("schema", help="print the JSON Schema of the scenario format")
    from nnlab.templates import TEMPLATES

    n = sub.add_parser("new", help="write a commented starter scenario")
    n.add_argument("topic", choices=sorted(TEMPLATES))
    n.add_argument("path", nargs="?", help="where to write it (default: my-TOPIC.yaml)")

    e = sub.add_parser("explain", help="explain one element of a scenario")
    e.add_argument("file")
    e.add_argument("ref", help="e.g. 'Y[0,0]', 'grad(W1)[0,1]', 'yhat[3]' (example 3), "
                                "'epoch(2).grad(w)[0]' (training)")
    e.add_argument("--digits", type=int, default=4)
    common(e)
    return p


def _lab_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnlab", description="Open the lab on a scenario file.")
    p.add_argument("file", nargs="?")
    p.add_argument("--step", help="start at step N or at a node name")
    p.add_argument("--version", action="version", version=f"nnlab {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``nnlab`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and (argv[0] in COMMANDS or argv[0] in ("-h", "--help")):
        args = _parser().parse_args(argv)
        try:
            return _dispatch(args)
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:
            return 0
    args = _lab_parser().parse_args(argv)
    return _open_lab(args.file, args.step)


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
    except NnlabError as exc:
        _print_error(exc)
        return EXIT_INVALID
    return EXIT_OK


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


def _load_and_run(file: str, max_elements: int) -> tuple[Any, Any]:
    from nnlab.session import open_session

    return open_session(_resolve_path(file), max_elements=max_elements)


# ----------------------------------------------------------------------- commands


def cmd_list() -> int:
    """Print the bundled scenarios, one per line: name, topic, title."""
    from nnlab.library import bundled
    from nnlab.scenario.yamlsrc import load_yaml

    rows = []
    for path in bundled():
        try:
            root = load_yaml(path.read_text(encoding="utf-8"), str(path))
            title = root.value["title"].value if "title" in root.value else ""
            topic = root.value["topic"].value if "topic" in root.value else ""
        except Exception:  # noqa: BLE001 - a broken bundled file still gets listed
            title, topic = "(invalid)", ""
        rows.append((path.stem, str(topic or ""), str(title)))
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
    schema = Path(__file__).resolve().parent / "scenario.schema.json"
    text = f"# yaml-language-server: $schema={schema.as_uri()}\n" + TEMPLATES[topic]
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target} — open it with `nnlab {target}` or check it with `nnlab check {target}`")
    return EXIT_OK


def cmd_validate(files: list[str], max_elements: int) -> int:
    """Load, build and run each file; print OK or the error."""
    from nnlab.errors import NnlabError

    status = EXIT_OK
    for f in files:
        try:
            session = _load_and_run(f, max_elements)
            print(f"{f}: OK ({len(session.steps)} steps)")
        except NnlabError as exc:
            _print_error(exc)
            status = EXIT_INVALID
    return status


def cmd_check(file: str, as_json: bool, max_elements: int) -> int:
    """Check the answers; exit 0 all pass, 1 a mismatch, 2 invalid file."""
    session = _load_and_run(file, max_elements)
    report = session.check()
    if as_json:
        import json

        from nnlab.numfmt import json_safe

        print(json.dumps(json_safe([i.as_json() for i in report.items]), indent=2))
        return EXIT_OK if report.ok else EXIT_MISMATCH
    print(render_check(session, report, color=sys.stdout.isatty()))
    return EXIT_OK if report.ok else EXIT_MISMATCH


def render_check(session: Any, report: Any, color: bool = False) -> str:
    """The check table as plain text (aligned columns, ✓/✗)."""
    import math

    from nnlab.numfmt import as_float, fmt

    def show(v: Any) -> str:
        import numpy as np

        if v is None:
            return "—"
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
        rows.append((item.ref, item.expected, actual, "✓" if item.ok else "✗"))
    widths = [min(max(len(r[i]) for r in rows), 40) for i in range(3)]
    arithmetic = session.training.arithmetic if session.training is not None else session.run.arithmetic
    lines = [f"{bold}{title}{off}  ({arithmetic} arithmetic)", ""]
    if session.training is not None:
        lines[1:1] = [session.training.summary()]
    for k, (ref, exp, act, mark) in enumerate(rows):
        line = f"  {ref.ljust(widths[0])}  {exp.ljust(widths[1])}  {act.ljust(widths[2])}  "
        if k == 0:
            lines.append(f"{dim}{line}{off}")
            continue
        lines.append(line + (f"{green}{mark}{off}" if mark == "✓" else f"{red}{mark}{off}"))
        lines.extend(f"{dim}{why}{off}" for why in _why_lines(session, report.items[k - 1]))
    n_ok = sum(i.ok for i in report.items)
    lines.append("")
    if not report.items:
        lines.append("no expect: entries to check")
    elif report.ok:
        lines.append(f"{green}all {n_ok} answers match{off}")
    else:
        first = report.first_mistake
        where = ""
        if first.step is not None and first.step < len(session.steps):
            st = session.steps[first.step]
            where = f" — look at step {first.step + 1} ({st.phase}: {st.label})"
        carried = sum(i.carried for i in report.items if not i.ok)
        kind = "first independent mistake" if carried else "first mistake"
        lines.append(f"{red}{len(report.items) - n_ok} of {len(report.items)} answers differ{off}"
                     + (f" ({carried} carried from an earlier one)" if carried else "")
                     + f"; {kind}: {first.ref}{where}")
    notice = _step_zero_notice(session)
    if notice:
        lines.append(notice)
    return "\n".join(lines)


def _why_lines(session: Any, item: Any) -> list[str]:
    """The lines under a row of the check table: why a ✗ (and a ✓ accepted via the user's own values)."""
    out = []
    if item.ok and item.via:
        out.append(f"      ✓ right for your own {', '.join(item.via)} (follow-through; tolerance {item.tolerance})")
        return out
    if item.ok or item.error is not None:
        return out
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


def _open_lab(file: str | None, step: str | None) -> int:
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
    return run_app(file, step)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
