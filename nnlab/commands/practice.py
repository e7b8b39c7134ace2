"""``nnlab practice TOPIC``: write an exam-style exercise with fresh numbers (or its key, or a sheet)."""

from __future__ import annotations

import argparse
import os
import sys

HELP = "write an exam-style exercise with fresh numbers (--list for the topics)"


def configure(parser: argparse.ArgumentParser) -> None:
    """``TOPIC [--seed N] [--out FILE] [--key] [--mcq] [--sheet N] [--list]``."""
    parser.add_argument("topic", nargs="?", help="what to practise (`nnlab practice --list` names them)")
    parser.add_argument("--seed", type=int, default=None,
                        help="which exercise: the same topic and seed always give the same numbers (default: random)")
    parser.add_argument("--out", metavar="FILE", help="where to write it (default: practice-TOPIC-SEED.yaml; "
                                                      "'-' for standard output); an existing file is never overwritten")
    parser.add_argument("--key", action="store_true", help="write the answers too (for instructors, self-marking)")
    parser.add_argument("--mcq", action="store_true", help="add five options A-E: the key and four distractors")
    parser.add_argument("--sheet", type=int, metavar="N", help="write a Markdown sheet of N exercises with the key")
    parser.add_argument("--list", action="store_true", help="name the topics, one line each")


def run(args: argparse.Namespace) -> int:
    """Write the exercise, the key or the sheet; print where."""
    from nnlab.errors import NnlabError
    from nnlab.practice import TOPICS, generate, sheet

    if args.list or args.topic is None:
        width = max(map(len, TOPICS))
        for name, (_, line) in TOPICS.items():
            print(f"{name:<{width}}  {line}")
        if not args.list:
            print("\nusage: nnlab practice TOPIC [--seed N] [--key] [--mcq] [--out FILE]", file=sys.stderr)
            return 2
        return 0
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(2), "big")
    if args.sheet is not None:
        if not 1 <= args.sheet <= 100:
            raise NnlabError(f"--sheet takes 1 to 100 exercises, not {args.sheet}")
        text = sheet(args.topic, args.sheet, seed)
        default = f"practice-{args.topic}-sheet-{seed}.md"
    else:
        exercise = generate(args.topic, seed, mcq=args.mcq)
        text = exercise.scenario(key=args.key)
        default = f"practice-{args.topic}-{seed}{'-key' if args.key else ''}.yaml"
    out = args.out or default
    if out == "-":
        sys.stdout.write(text)
        return 0
    try:
        with open(out, "x", encoding="utf-8") as f:  # "x": never overwrite the student's file
            f.write(text)
    except FileExistsError:
        raise NnlabError(f"{out} exists already: nothing written",
                         hint="give another --out, another --seed, or remove the file.") from None
    except OSError as exc:
        raise NnlabError(f"cannot write {out}: {exc.strerror or exc}") from None
    what = "sheet" if args.sheet is not None else ("key" if args.key else "exercise")
    print(f"wrote the {args.topic} {what} (seed {seed}) to {out}")
    if args.sheet is None and not args.key:
        print(f"open it: nnlab {out}    check it: nnlab check {out}")
    return 0
