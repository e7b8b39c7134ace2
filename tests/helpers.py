"""Small helpers for tests: build and run scenarios from YAML text."""

from __future__ import annotations

import textwrap

from nnlab.check import check_run
from nnlab.engine.run import run_scenario
from nnlab.scenario import loads


def run_yaml(text: str, **kwargs):
    """Load YAML text (dedented) as a scenario and run it."""
    return run_scenario(loads(textwrap.dedent(text), "test.yaml"), **kwargs)


def check_yaml(text: str):
    run = run_yaml(text)
    return check_run(run)
