"""Answers are not given away (#13): bundled and practice answers start hidden; ctrl+r reveals them."""

from __future__ import annotations

import re

from nnlab.library import scenarios_dir
from nnlab.practice import generate
from nnlab.scenario.model import load
from tests.functional.tui.conftest import open_lab, wait_for

SIZE = (110, 34)


async def _check_screen(pilot):
    await pilot.pause()
    if pilot.app.screen.__class__.__name__ == "PracticeScreen":  # an exercise opens in practice mode
        await pilot.press("escape")
    await pilot.press("c")
    await wait_for(pilot, lambda: pilot.app.screen.__class__.__name__ == "CheckScreen")
    return pilot.app.screen


async def test_a_bundled_quiz_starts_hidden_then_a_right_answer_shows_and_ctrl_r_reveals_the_solution():
    path = str(scenarios_dir() / "conv-output-shape-quiz.yaml")
    async with open_lab(path, size=SIZE) as (app, pilot, lab):
        check = await _check_screen(pilot)
        rows = {r.ref: r for r in check.rows}
        assert all(r.input.value == "" for r in check.rows)            # nothing pre-filled
        assert all(str(r.mark.render()) == "?" for r in check.rows)
        assert "hidden" in str(rows["shape(Y_lecture)"].computed.render())
        rows["shape(Y_lecture)"].input.focus()
        await pilot.press(*"6x8")                                        # the other convention: wrong, still hidden
        assert str(rows["shape(Y_lecture)"].mark.render()) == "✗"
        assert "[5, 7]" not in str(rows["shape(Y_lecture)"].computed.render())
        rows["shape(Y_lecture)"].input.value = ""
        await pilot.press(*"5x7")                                        # right: now the computed value shows
        assert str(rows["shape(Y_lecture)"].mark.render()) == "✓"
        assert str(rows["shape(Y_lecture)"].computed.render()) == "[5, 7]"
        assert not check.query_one("#check-solution").display
        await pilot.press("ctrl+r")
        assert rows["shape(Y_torch)"].input.value == "[6, 8]"           # the worked answers, filled in
        assert all(str(r.mark.render()) == "✓" for r in check.rows)
        solution = check.query_one("#check-solution")
        assert solution.display and "Answer **C: 5×7**" in str(solution.render())


async def test_a_practice_exercise_counts_unanswered_and_saves_only_what_was_typed(tmp_path):
    path = tmp_path / "ex.yaml"
    exercise = generate("conv", 7)
    path.write_text(exercise.scenario())
    async with open_lab(str(path), size=SIZE) as (app, pilot, lab):
        check = await _check_screen(pilot)
        assert [r.ref for r in check.rows] == ["Y[0, 0]", "Y"]
        summary = lambda: str(check.query_one("#check-summary").render())  # noqa: E731
        await wait_for(pilot, lambda: "0 right, 2 to answer" in summary())
        check.rows[0].input.focus()
        await pilot.press(*exercise.answers["Y[0, 0]"])
        await wait_for(pilot, lambda: "1 right, 1 to answer" in summary())
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Y[0, 0]: '?'" not in path.read_text())
    assert path.read_text() == exercise.scenario().replace("Y[0, 0]: '?'", f"Y[0, 0]: {exercise.answers['Y[0, 0]']}")


def _forms(text: str) -> set[str]:
    """An answer as it might be written in prose: 34944 → 34,944; [5, 7] → 5×7, 5x7."""
    out = {text}
    shape = re.fullmatch(r"\[(\d+), (\d+)\]", text)
    if shape:
        a, b = shape.groups()
        out |= {f"{a}×{b}", f"{a}x{b}", f"{a} × {b}"}
    if re.fullmatch(r"\d{4,}", text):
        out.add(f"{int(text):,}")
    if "sigmoid(2) - 1" in text:
        out.add("σ(2) − 1")
    return out


def test_bundled_quizzes_do_not_give_their_answers_in_title_or_preview():
    quizzes = 0
    for path in sorted(scenarios_dir().glob("*.yaml")):
        scenario = load(path, shapes_only=True)
        quiz = scenario.title.startswith("Quiz")
        # a quiz: no answer in its title or notes; a worked example: no long number in its title
        answers = {str(e.raw) for e in scenario.expect
                   if len(str(e.raw)) >= 4 and (quiz or re.fullmatch(r"\d+", str(e.raw)))}
        shown = scenario.title + ("\n" + scenario.about if quiz else "")
        quizzes += quiz
        leaked = [form for a in answers for form in _forms(a) if form in shown]
        assert leaked == [], (path.name, leaked)
    assert quizzes >= 4
