"""``nnlab run`` output: every step with its numbers, aligned, via rich.

Everything from the engine or the scenario is wrapped in :class:`rich.text.Text`, so
brackets such as ``W1[0,1]`` are never read as markup.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from nnlab.engine.explain import explain
from nnlab.engine.run import to_float
from nnlab.engine.shapes import arithmetic_label
from nnlab.engine.trace import FORWARD
from nnlab.numfmt import fmt_array

PHASE_STYLE = {"forward": "bold cyan", "backward": "bold magenta", "update": "bold yellow"}


def _rule_lines(run: Any, step: Any) -> list[str]:
    """The step's sympy-derived rule, or a one-line reason it has none."""
    try:
        from nnlab.symbolic.rules import step_rule

        return step_rule(run, step).lines
    except Exception as exc:  # noqa: BLE001 - symbolic output is an extra
        return [f"(no symbolic rule: {exc})"]


def print_training(console: Console, session: Any, digits: int) -> None:
    """A training run: how it ended, then one line per epoch (first 20 and last 5)."""
    tr = session.training
    head = Text(session.scenario.title, style="bold")
    head.append(f"   {tr.config.rule} · {_count(len(tr.records), 'update')} · {_count(len(session.steps), 'step')} · "
                f"{tr.arithmetic} arithmetic", style="dim")
    console.print(head)
    console.print(Text(tr.summary(), style="bold green" if tr.converged or tr.config.rule == "gd" else "bold red"))
    epochs = list(range(1, tr.epochs + 1))
    shown = epochs if len(epochs) <= 25 else epochs[:20] + [None] + epochs[-5:]
    for e in shown:
        if e is None:
            console.print(Text("   …", style="dim"))
            continue
        snap = tr.snapshots[tr.epoch_end[e]]
        params = "  ".join(f"{k}={' '.join(fmt_array(to_float(v[0]), digits))}" for k, v in snap.items())
        recs = tr.records[tr.epoch_end[e - 1]:tr.epoch_end[e]]
        if tr.config.rule == "perceptron":
            stat = f"mistakes {tr.mistakes[e - 1]}"
        else:
            stat = f"loss {sum(r.loss for r in recs) / len(recs):.6f}"
        line = Text(f"  epoch {e:>4}  ", style="dim")
        line.append(stat.ljust(16), style="yellow")
        line.append(params)
        console.print(line)


def print_run(session: Any, steps: list, digits: int = 4, symbolic: bool = False) -> None:
    """Print ``steps`` of a session's run."""
    console = Console(highlight=False)
    if getattr(session, "training", None) is not None:
        print_training(console, session, digits)
        return
    run = session.run
    head = Text(session.scenario.title, style="bold")
    head.append(f"   {_count(len(run.steps), 'step')} · {arithmetic_label(run.arithmetic)}", style="dim")
    console.print(head)
    for step in steps:
        node = run.graph.nodes[step.node]
        line = Text(f"{step.index + 1:>3} ", style="dim")
        line.append(f"{step.phase:<8} ", style=PHASE_STYLE.get(step.phase, ""))
        line.append(step.label, style="bold")
        line.append(f"   shape {list(step.shape)}", style="dim")
        if step.phase != FORWARD and any(n > 1 for _, n in step.accumulates):
            line.append("   (gradients accumulate)", style="yellow")
        console.print(line)
        if step.phase == FORWARD:
            data = run.values[step.node]
            data = data if node.batched and run.batch_axis else data[0]
        else:
            data = run.grads[step.node]
            data = data if node.batched and run.batch_axis else data[0]
        for text in fmt_array(to_float(data), digits, limit=8):
            console.print(Text("      " + text))
        if int(to_float(data).size) <= 64:
            try:
                ex = explain(run, step, digits=digits)
                console.print(Text("      " + ex.text, style="green"))
            except Exception:  # noqa: BLE001 - an explanation must never break the listing
                pass
        if symbolic:
            for text in _rule_lines(run, step):
                console.print(Text("      " + text, style="cyan"))


def _count(n: int, word: str) -> str:
    """``1 step``, ``2 steps``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
