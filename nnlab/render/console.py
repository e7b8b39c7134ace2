"""``nnlab run`` output: every step with its numbers, aligned, via rich.

Everything from the engine or the scenario is wrapped in :class:`rich.text.Text`, so
brackets such as ``W1[0,1]`` are never read as markup.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from nnlab.engine.run import to_float
from nnlab.engine.trace import FORWARD
from nnlab.numfmt import fmt_array

PHASE_STYLE = {"forward": "bold cyan", "backward": "bold magenta", "update": "bold yellow"}


def print_run(session: Any, steps: list, digits: int = 4, symbolic: bool = False) -> None:
    """Print ``steps`` of a session's run."""
    console = Console(highlight=False)
    run = session.run
    head = Text(session.scenario.title, style="bold")
    head.append(f"   {len(run.steps)} steps · {run.arithmetic} arithmetic", style="dim")
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
        for text in fmt_array(to_float(data), digits):
            console.print(Text("      " + text))
        if int(to_float(data).size) <= 64:
            try:
                ex = run.explain(step, digits=digits)
                console.print(Text("      " + ex.text, style="green"))
            except Exception:  # noqa: BLE001 - an explanation must never break the listing
                pass
