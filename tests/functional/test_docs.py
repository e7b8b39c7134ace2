"""Every YAML example in the authoring guide is a complete scenario that passes `nnlab check`."""

import re
from pathlib import Path

import pytest

from nnlab.session import session_from_scenario
from nnlab.scenario import loads

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "scenario-format.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", GUIDE.read_text(encoding="utf-8"), flags=re.S)


def test_the_guide_has_examples():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("k", range(len(BLOCKS)))
def test_guide_example_runs_and_checks(k):
    session = session_from_scenario(loads(BLOCKS[k], f"guide-example-{k}.yaml"))
    report = session.check()
    assert report.items, "every guide example checks something"
    assert all(i.ok or i.unanswered for i in report.items), [
        (i.ref, i.expected, i.actual, i.error) for i in report.items if not i.ok]
    assert any(i.ok for i in report.items)
