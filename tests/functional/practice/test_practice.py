"""``nnlab practice``: fresh exercises whose keys pass ``check`` and whose distractors are real mistakes (#13)."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.practice import TOPICS, generate, sheet
from nnlab.scenario.model import loads
from nnlab.session import session_from_scenario
from tests.helpers import run_cli

SEEDS = range(50)


def check(text: str):
    scenario = loads(text, "<practice>")
    session = session_from_scenario(scenario)
    return session, session.check()


@pytest.mark.parametrize("topic", list(TOPICS))
def test_every_seed_gives_a_key_that_passes_and_an_exercise_left_unanswered(topic):
    texts = []
    for seed in SEEDS:
        ex = generate(topic, seed)
        exercise, key = ex.scenario(), ex.scenario(key=True)
        _, report = check(key)
        assert report.ok, (topic, seed, [(i.ref, i.expected, i.actual) for i in report.items if not i.ok])
        _, report = check(exercise)
        assert [i.unanswered for i in report.items] == [True] * len(ex.draft.asked)
        assert not report.ok and report.first_mistake is None
        assert generate(topic, seed).scenario(key=True) == key          # the same seed, the same file
        texts.append(exercise.split("values:")[1])                      # the numbers, not the header
    assert len(set(texts)) >= 0.9 * len(texts)                           # other seeds, other numbers


@pytest.mark.parametrize("topic", list(TOPICS))
def test_mcq_options_are_distinct_and_each_distractor_is_diagnosed_as_its_misconception(topic):
    named = 0
    for seed in SEEDS:
        ex = generate(topic, seed, mcq=True)
        key = ex.scenario(key=True)
        assert len(ex.options) == 5 and [o.letter for o in ex.options] == list("ABCDE")
        assert [o.misconception for o in ex.options].count(None) == 1
        values = [np.asarray(check(_answering(ex, o.text))[0].scenario.expect[0].answer, dtype=float)
                  for o in ex.options]
        for i in range(5):
            for j in range(i):
                assert values[i].shape != values[j].shape or np.max(np.abs(values[i] - values[j])) > 1e-9, \
                    (topic, seed, ex.options)
        for option in ex.options:
            _, report = check(_answering(ex, option.text))
            item = report.items[0]
            if option.misconception is None:
                assert item.ok, (topic, seed, option)
                continue
            assert not item.ok, (topic, seed, option)                  # never a second right answer
            if option.misconception != "near-miss":
                named += 1
                assert option.misconception in [f.id for f in item.diagnosis], (topic, seed, option, item.diagnosis)
        assert f"Choose one for {ex.mcq_ref}" in ex.scenario() and "Key: " in key and "Key: " not in ex.scenario()
    if topic not in ("perceptron", "params"):
        assert named >= 50                                             # most distractors are real mistakes


def _answering(ex, text: str) -> str:
    """The exercise with only its multiple-choice reference, answered ``text``."""
    from nnlab.practice import _scenario_text

    return _scenario_text(ex.draft, {ex.mcq_ref: text}, ex.draft.question)


def test_numbers_are_pleasant_and_no_asked_value_is_zero():
    for seed in SEEDS:
        ex = generate("conv", seed)
        assert all(isinstance(v, int) for row in ex.draft.values["X"] for v in row)
        assert ex.answers[ex.draft.asked[0]] != "0"
        ex = generate("pool", seed)
        X = np.array(ex.draft.values["X"])
        for r in (0, 2):
            for c in (0, 2):
                assert len(set(X[r:r + 2, c:c + 2].ravel())) == 4      # no ties in a window
        ex = generate("perceptron", seed)
        session, _ = check(ex.scenario(key=True))
        assert int(session.evaluate("train.mistakes")[0]) > 0          # never right from the start


def test_the_sheet_has_n_exercises_and_the_key_at_the_end():
    text = sheet("conv-shape", 10, 3)
    assert text.count("\n## Exercise ") == 10
    body, key = text.split("\n## Key\n")
    assert "shape(Y)" not in body
    answers = [line for line in key.splitlines() if line[:1].isdigit()]
    assert len(answers) == 10
    assert answers[0] == f"1. `shape(Y)` = {generate('conv-shape', 3).answers['shape(Y)']}"


def test_the_command_writes_lists_and_never_overwrites(tmp_path):
    listed = run_cli("practice", "--list")
    assert listed.returncode == 0 and [line.split()[0] for line in listed.stdout.splitlines()] == list(TOPICS)
    out = tmp_path / "ex.yaml"
    done = run_cli("practice", "conv", "--seed", "7", "--out", str(out))
    assert done.returncode == 0 and out.read_text() == generate("conv", 7).scenario()
    again = run_cli("practice", "conv", "--seed", "8", "--out", str(out))
    assert again.returncode == 2 and "exists already" in again.stderr
    assert out.read_text() == generate("conv", 7).scenario()
    checked = run_cli("check", "--json", str(out))
    assert checked.returncode == 1 and '"unanswered": true' in checked.stdout
    unknown = run_cli("practice", "convolution")
    assert unknown.returncode == 2 and "unknown practice topic" in unknown.stderr
