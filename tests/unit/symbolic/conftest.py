"""Shared helpers for the symbolic tests: fixture scenarios and runs."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("sympy")

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_run(name: str):
    """Load ``tests/unit/symbolic/fixtures/NAME.yaml`` and run it."""
    from nnlab.session import open_session

    return open_session(str(FIXTURES / f"{name}.yaml")).run


def scenario_run(text: str):
    """Run scenario text (built by a test)."""
    from nnlab.engine.run import run_scenario
    from nnlab.scenario import loads

    return run_scenario(loads(text))


@pytest.fixture(autouse=True)
def _fresh_chain_cache():
    from nnlab.symbolic.chain import clear_cache

    clear_cache()
    yield
