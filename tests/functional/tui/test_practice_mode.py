"""Practice mode (#13): predict, be told why, hint, give up, score; a shape question before a conv step."""

from __future__ import annotations

from nnlab.practice import generate
from tests.functional.tui.conftest import FIXTURES, open_lab, wait_for

SIZE = (100, 34)


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector).render())


async def answer(pilot, text: str) -> None:
    box = pilot.app.screen.query_one("#practice-answer")
    box.value = ""
    box.focus()
    await pilot.press(*text, "enter")
    await pilot.pause()


async def test_an_exercise_opens_in_practice_mode_and_judges_each_prediction(tmp_path):
    from nnlab.tui.screens.practice import PracticeScreen

    path = tmp_path / "conv.yaml"
    path.write_text(generate("conv", 7).scenario())                    # Y = [[14, 16], [16, 15]], b = -1
    async with open_lab(str(path), size=SIZE) as (app, pilot, lab):
        await wait_for(pilot, lambda: isinstance(app.screen, PracticeScreen))
        practice = app.screen
        assert "What is the shape of the output?" in text_of(practice, "#practice-question")
        assert "its shape is the question" in text_of(practice, "#practice-tensors")
        await answer(pilot, "3x3")                                      # stride 1 instead of 2
        feedback = text_of(practice, "#practice-feedback")
        assert "✗ not 3x3" in feedback and "why (stride-ignored)" in feedback and "= 2" not in feedback
        await answer(pilot, "2x2")
        assert "✓ right after 2 tries" in text_of(practice, "#practice-feedback")
        await pilot.press("ctrl+n")
        assert "What is Y[0,0]?" in text_of(practice, "#practice-question")
        grid = text_of(practice, "#practice-tensors")
        assert "[?]" in grid and "14" not in grid.split("\nY")[-1]      # the output is hidden
        await answer(pilot, "15")                                       # the bias left out
        assert "why (bias-missing)" in text_of(practice, "#practice-feedback")
        await pilot.press("ctrl+t")
        assert "hint: Y[0,0] = " in text_of(practice, "#practice-hint")
        await pilot.press("ctrl+t")
        assert "= ?" in text_of(practice, "#practice-hint")             # the formula with numbers, result blank
        await answer(pilot, "14")
        assert "✓ right after 2 tries" in text_of(practice, "#practice-feedback")
        assert "Y[0,0] = " in text_of(practice, "#practice-question") and "= 14" in text_of(practice, "#practice-question")
        await pilot.press("ctrl+n")
        assert "What is Y[0,1]?" in text_of(practice, "#practice-question")
        await pilot.press("ctrl+g")                                     # give up
        assert "16" in text_of(practice, "#practice-question")
        await pilot.press("ctrl+n")
        for wrong in ("1", "2", "3"):                                   # three tries, then the value
            await answer(pilot, wrong)
        assert "3 tries: here is the value" in text_of(practice, "#practice-feedback")
        assert text_of(practice, "#practice-score") == (
            "practice — answered 3 · right first time 0 · given up 1")
        await pilot.press("escape")
        lab = app.screen                                                # the lab, at the last question's element
        assert type(lab).__name__ == "LabScreen" and lab.step == 0 and lab.element == 2
        assert "practice: answered 3 · right first time 0 · given up 1" in " ".join(t for t, _ in lab.status_parts())
    assert path.read_text() == generate("conv", 7).scenario()        # nothing written


async def test_t_practises_a_backward_step_with_the_catalogs_why():
    from nnlab.tui.screens.practice import PracticeScreen

    async with open_lab(str(FIXTURES / "mlp.yaml"), size=SIZE) as (app, pilot, lab):
        step = next(k for k, s in enumerate(lab.model.steps) if s.phase == "backward")
        lab.goto(step, 0)
        await pilot.pause()
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, PracticeScreen))
        practice = app.screen
        assert isinstance(practice, PracticeScreen)
        question = text_of(practice, "#practice-question")
        assert "backward" in question and "What is" in question
        value = practice._focus().explanation.value
        await answer(pilot, f"{-float(value):.4f}")                      # the sign flipped
        feedback = text_of(practice, "#practice-feedback")
        assert "✗" in feedback
        await answer(pilot, f"{float(value):.4f}")
        assert "✓ right after 2 tries" in text_of(practice, "#practice-feedback")


async def test_a_value_right_for_your_own_wrong_earlier_answer_says_so(tmp_path):
    """Follow-through: z = w·x wrong, then a = relu(z) computed from that wrong z is named a carried error."""
    from nnlab.tui.screens.practice import PracticeScreen

    path = tmp_path / "chain.yaml"
    path.write_text("nnlab: 1\ntitle: chain\nvalues: {x: [1, 2], w: [0.5, 1.5]}\n"
                    "compute:\n  - z = w @ x\n  - a = 3 * z\n")       # z = 3.5, a = 10.5
    async with open_lab(str(path), size=SIZE) as (app, pilot, lab):
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, PracticeScreen))
        practice = app.screen
        await pilot.press("ctrl+n") if "shape" in text_of(practice, "#practice-question") else None
        assert "What is z" in text_of(practice, "#practice-question")
        await answer(pilot, "4")                                        # wrong: z = 3.5
        await pilot.press("ctrl+g")
        await pilot.press("ctrl+n")
        assert "What is a" in text_of(practice, "#practice-question")
        await answer(pilot, "12")                                       # 3 × my wrong 4
        feedback = text_of(practice, "#practice-feedback")
        assert "✗" in feedback and "why (carried-error)" in feedback and "z" in feedback


async def test_the_palette_offers_practice():
    from nnlab.tui.screens.practice import PracticeScreen

    async with open_lab(str(FIXTURES / "mlp.yaml"), size=SIZE) as (app, pilot, lab):
        await pilot.press("ctrl+p")
        await pilot.press(*"scenario: practice")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PracticeScreen))
