"""Every bundled scenario loads, runs and passes its own expect: block."""

import pytest

from nnlab.session import open_session
from nnlab.library import bundled

SCENARIOS = bundled()


def test_there_are_bundled_scenarios():
    assert len(SCENARIOS) >= 6


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_bundled_scenario_checks(path):
    session = open_session(str(path))
    assert session.scenario.expect, f"{path.name} has no expect: block"
    report = session.check()
    wrong = [(i.ref, i.expected, i.actual, i.error) for i in report.items if not i.ok]
    assert not wrong, wrong
