"""Whole-graph check: sympy's gradient of the target equals backprop's, for every leaf."""

from __future__ import annotations

import pytest

from nnlab.session import open_session
from nnlab.library import bundled
from nnlab.symbolic.verify import verify_gradients
from tests.unit.symbolic.conftest import FIXTURES, fixture_run, scenario_run

FIXTURE_NAMES = sorted(p.stem for p in FIXTURES.glob("*.yaml"))


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixtures_agree_with_backprop(name):
    report = verify_gradients(fixture_run(name))
    assert report.qualified, report.reason
    assert not report.disagreements, report.summary
    assert report.checked == report.leaves > 0


def test_every_qualifying_bundled_scenario_agrees():
    qualified, skipped = [], []
    for path in bundled():
        report = verify_gradients(open_session(str(path)).run)
        if not report.qualified:
            skipped.append((path.stem, report.reason))
            continue
        assert not report.disagreements, f"{path.name}: {report.summary}"
        qualified.append(path.stem)
    assert len(qualified) >= 5, (qualified, skipped)
    for stem, reason in skipped:  # skipping is only for graphs without a target, or too big
        assert reason, stem


@pytest.mark.parametrize("name", ["lecture-2layer", "mlp-data", "conv-pool", "softmax-ce"])
def test_sympy_diff_and_the_reverse_sweep_agree(name):
    run = fixture_run(name)
    a = verify_gradients(run, method="diff")
    b = verify_gradients(run, method="reverse")
    assert a.method == "diff" and b.method == "reverse"
    assert a.ok and b.ok


def test_data_gradients_are_checked_per_example():
    report = verify_gradients(fixture_run("mlp-data"))
    # 4 + 2 + 2 + 1 parameters, plus x (3 × 2) and y (3) per example
    assert report.leaves == 9 + 6 + 3 and report.ok


def test_too_many_leaves_is_not_qualified():
    report = verify_gradients(fixture_run("lecture-2layer"), max_leaves=5)
    assert not report.qualified and "scalar leaves" in report.reason and not report.ok


def test_no_target_is_not_qualified():
    run = scenario_run("nnlab: 1\ntitle: t\nvalues: {x: 2.0}\ncompute:\n  - y = sigmoid(x)\n")
    report = verify_gradients(run)
    assert not report.qualified and report.reason == "no backward target"


def test_bce_at_a_clamped_probability_is_not_qualified():
    run = scenario_run("nnlab: 1\ntitle: t\nvalues: {p: [1.0, 0.5], y: [1, 0]}\n"
                       "compute:\n  - loss = bce(p, y)\nbackward: loss\n")
    report = verify_gradients(run)
    assert not report.qualified and "clamped" in report.reason


def test_a_wrong_engine_gradient_is_reported(monkeypatch):
    run = fixture_run("one-neuron")
    real = run.grad

    def wrong(name):
        g = real(name)
        return g * 1.001 if name == "w" else g

    monkeypatch.setattr(type(run), "grad", lambda self, name: wrong(name))
    report = verify_gradients(run)
    assert report.qualified and not report.ok
    assert {d.name for d in report.disagreements} == {"w"}
    assert report.disagreements[0].rel == pytest.approx(0.001 / 1.001, rel=1e-6)
    assert "grad(w)[0]" in report.summary


def test_cross_entropy_with_targets_not_summing_to_one():
    run = scenario_run("nnlab: 1\ntitle: t\nvalues:\n  f: [2.0, 1.0, 0.1]\n  t: [0.5, 0.2, 0.1]\n"
                       "compute:\n  - loss = cross_entropy(f, t)\nbackward: loss\n")
    assert verify_gradients(run).ok
