"""Every bundled scenario, once: it loads, runs (or trains), passes its own ``expect:`` block
and opens in the lab's view model.

This is the only test that runs each bundled scenario's answers. The oracle suites
(``test_torch_oracles.py``: PyTorch; ``test_train_oracles.py``: exact and torch
training, both beside this file; ``tests/unit/symbolic``: sympy) recompute the same scenarios independently and
compare; they do not re-check the ``expect:`` blocks. Opening the lab's screens is
tested with Pilot on ``tests/functional/tui/fixtures``; here the view model is asked for what the
lab shows first on each kind of step.
"""

from __future__ import annotations

import pytest

from nnlab.library import bundled
from nnlab.session import open_session

SCENARIOS = bundled()


def test_there_are_bundled_scenarios():
    assert len(SCENARIOS) >= 30
    assert len({p.stem for p in SCENARIOS}) == len(SCENARIOS)


def one_step_of_each_kind(steps) -> list[int]:
    """The first step of each (phase, op) pair, and the last step."""
    first: dict[tuple[str, str], int] = {}
    for k, step in enumerate(steps):
        first.setdefault((step.phase, step.op), k)
    return sorted({*first.values(), len(steps) - 1})


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_bundled_scenario(path):
    from nnlab.tui.model import LabModel

    session = open_session(str(path))
    assert session.scenario.expect, f"{path.name} has no expect: block"
    assert len(session.steps) > 0

    report = session.check()
    assert len(report.items) == len(session.scenario.expect) + (session.scenario.expect_error is not None)
    wrong = [(i.ref, i.expected, i.actual, i.error) for i in report.items if not i.ok]
    assert not wrong, wrong
    assert report.ok

    model = LabModel(session, str(path))
    assert model.title == session.scenario.title
    assert len(model.steps) == len(session.steps)
    assert sum(row.kind == "step" for row in model.rows) == len(model.steps)
    for k in one_step_of_each_kind(model.steps):
        step = model.steps[k]
        assert model.element_count(k) >= 1, step.label
        assert model.operands(k), step.label
        focus = model.focus(k, 0)
        assert focus.error == "" and focus.explanation is not None, (k, step.label, focus.error)
        assert focus.explanation.formula.strip(), (k, step.label)
