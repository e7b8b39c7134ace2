"""The check screen: verdicts, editing answers in place, jumping to mistakes, saving answers back."""

from __future__ import annotations

from pathlib import Path

from nnlab.tui.app import NnlabApp
from nnlab.tui.screens.check import CheckScreen
from tests.helpers import run_cli
from tests.functional.tui.conftest import FIXTURES, wait_for, wait_loaded

SIZE = (100, 30)


async def open_check(pilot):
    await wait_loaded(pilot)
    lab = pilot.app.screen
    await pilot.press("c")
    check = pilot.app.screen
    assert isinstance(check, CheckScreen)
    return lab, check


def row_of(check: CheckScreen, ref: str):
    return next(r for r in check.rows if r.ref == ref)


async def type_answer(pilot, row, text: str) -> None:
    row.input.focus()
    row.input.value = ""
    await pilot.press(*text)


async def test_rows_show_answer_computed_and_verdict():
    app = NnlabApp(str(FIXTURES / "mlp.yaml"))
    async with app.run_test(size=SIZE) as pilot:
        _, check = await open_check(pilot)
        assert [r.ref for r in check.rows] == ["z1", "yhat", "grad(W2)[0, 0]", "loss"]
        assert [r.input.value for r in check.rows] == ["[0.5, 1.2]", "-0.073", "0.5", "mse(yhat, y)"]
        assert [check.items[r.k].ok for r in check.rows] == [True, True, False, True]
        assert str(row_of(check, "grad(W2)[0, 0]").mark.render()) == "✗"
        assert "-1.3358" in str(row_of(check, "grad(W2)[0, 0]").computed.render())
        summary = str(check.query_one("#check-summary").render())
        assert "1 of 4 answers differ" in summary and "first mistake: grad(W2)[0, 0]" in summary


async def test_typing_rechecks_and_expressions_are_answers():
    app = NnlabApp(str(FIXTURES / "mlp.yaml"))
    async with app.run_test(size=SIZE) as pilot:
        _, check = await open_check(pilot)
        row = row_of(check, "grad(W2)[0, 0]")
        await type_answer(pilot, row, "-1.33")
        assert not check.items[row.k].ok                 # ±0.005 from "-1.33" does not reach -1.3358
        await pilot.press("6")
        assert check.items[row.k].ok                     # "-1.336" matches within ±0.0005
        assert "all 4 answers match" in str(check.query_one("#check-summary").render())
        await type_answer(pilot, row, "2 * (yhat[0] - 1) * a1[0]")
        assert check.items[row.k].ok                     # an expression
        await type_answer(pilot, row, "sigmoid(")
        assert row.k not in check.items                  # half-typed: no verdict, no crash
        assert str(row.mark.render()) == "…"


async def test_ctrl_f_jumps_to_the_first_wrong_step_and_enter_to_a_rows_step():
    app = NnlabApp(str(FIXTURES / "mlp.yaml"))
    async with app.run_test(size=SIZE) as pilot:
        lab, check = await open_check(pilot)
        await pilot.press("ctrl+f")
        assert app.screen is lab
        assert lab.model.steps[lab.step].label.startswith("∂loss/∂W2")   # where grad(W2) is computed
        lab2 = lab
        await pilot.press("c")
        check = app.screen
        row_of(check, "z1").input.focus()
        await pilot.press("enter")
        assert app.screen is lab2 and lab2.model.steps[lab2.step].node == "z1"


async def test_ctrl_s_saves_answers_into_the_expect_block_keeping_comments(copy_fixture):
    path = copy_fixture("mlp.yaml")
    original = path.read_text()
    app = NnlabApp(str(path))
    async with app.run_test(size=SIZE) as pilot:
        _, check = await open_check(pilot)
        await type_answer(pilot, row_of(check, "grad(W2)[0, 0]"), "-1.336")
        await type_answer(pilot, row_of(check, "yhat"), "W2 @ a1")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: path.read_text() != original)
    saved = path.read_text()
    expected = (original.replace("grad(W2)[0, 0]: 0.5     # wrong on purpose", "grad(W2)[0, 0]: -1.336     # wrong on purpose")
                .replace("yhat: -0.073", "yhat: 'W2 @ a1'"))
    assert saved == expected                             # only the two answers changed
    done = run_cli("check", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


async def test_a_scenario_without_answers_says_so():
    app = NnlabApp(str(FIXTURES / "multichannel.yaml"))
    async with app.run_test(size=SIZE) as pilot:
        lab, check = await open_check(pilot)
        assert check.rows == []
        assert check.query(".check-empty")
        await pilot.press("ctrl+f", "ctrl+s", "escape")
        assert app.screen is lab


# -- why: the diagnosis beside each answer (issue 15, point 4) -------------------------------------

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


def scenario_copy(tmp_path, name: str, *replacements: tuple[str, str]) -> Path:
    text = (SCENARIOS / name).read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path


async def diagnosed(pilot, check: CheckScreen) -> None:
    await wait_for(pilot, lambda: not check.diagnosing)
    await pilot.pause()


def why(check: CheckScreen, ref: str) -> str:
    row = row_of(check, ref)
    return str(row.why.render()) if row.why.display else ""


async def test_a_misconception_is_named_beside_the_answer_and_its_consequence_is_carried(tmp_path):
    path = scenario_copy(tmp_path, "mlp-2layer-backprop.yaml", ("  z2: 0.3404", "  z2: -0.3404"),
                         ("  yhat: 0.5843", "  yhat: 0.4157"))     # σ(−0.3404): right for the wrong z2
    app = NnlabApp(str(path))
    async with app.run_test(size=(120, 36)) as pilot:
        _, check = await open_check(pilot)
        await diagnosed(pilot, check)
        assert "why (sign-flipped):" in why(check, "z2")
        assert "why (carried-error):" in why(check, "yhat") and "z2" in why(check, "yhat")
        assert why(check, "z1") == ""                            # a right answer says nothing more
        summary = str(check.query_one("#check-summary").render())
        assert "2 of 17 answers differ (1 carried from an earlier one)" in summary
        assert "first independent mistake: z2" in summary
        await pilot.press("ctrl+f")
        assert app.screen.model.steps[app.screen.step].node == "z2"


async def test_typing_a_wrong_shape_names_the_padding_convention(tmp_path):
    path = scenario_copy(tmp_path, "conv-output-shape-quiz.yaml")
    app = NnlabApp(str(path))
    async with app.run_test(size=(120, 36)) as pilot:
        _, check = await open_check(pilot)
        await diagnosed(pilot, check)
        assert all(not row.why.display for row in check.rows)   # all right: no why lines
        row = row_of(check, "shape(Y_lecture)")
        await type_answer(pilot, row, "6x8")
        assert not check.items[row.k].ok                          # the verdict comes at once …
        await diagnosed(pilot, check)
        assert "why (padding-convention):" in why(check, "shape(Y_lecture)")   # … the why shortly after
        await type_answer(pilot, row, "5x7")
        await diagnosed(pilot, check)
        assert check.items[row.k].ok and why(check, "shape(Y_lecture)") == ""


async def test_an_answer_right_for_your_own_earlier_answer_is_accepted_via_it(tmp_path):
    path = scenario_copy(tmp_path, "mlp-2layer-backprop.yaml", ("  yhat: 0.5843", "  yhat: 0.584"),
                         ("  loss: 0.5374", "  loss: 0.5379"))     # −ln(0.584): the student's rounding
    app = NnlabApp(str(path))
    async with app.run_test(size=(120, 36)) as pilot:
        _, check = await open_check(pilot)
        await diagnosed(pilot, check)
        row = row_of(check, "loss")
        assert check.items[row.k].ok and check.items[row.k].via == ("yhat",)
        assert why(check, "loss").startswith("✓ via yhat")
        assert "all 17 answers match" in str(check.query_one("#check-summary").render())


async def test_the_file_is_parsed_once_and_checked_in_one_call(tmp_path, monkeypatch):
    import nnlab.tui.answers as answers
    from nnlab.session import Session

    path = scenario_copy(tmp_path, "mlp-2layer-backprop.yaml", ("  z2: 0.3404", "  z2: -0.3404"))
    reads, checks = [], []
    real_read, real_check = answers._read, Session.check
    monkeypatch.setattr(answers, "_read", lambda p: reads.append(p) or real_read(p))
    monkeypatch.setattr(Session, "check", lambda self, *a, **k: checks.append(k) or real_check(self, *a, **k))
    app = NnlabApp(str(path))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_loaded(pilot)
        reads.clear()
        checks.clear()
        await pilot.press("c")
        check = app.screen
        await diagnosed(pilot, check)
        assert len(check.rows) == 17
        assert len(reads) == 1                         # not once per answer
        assert checks == [{"diagnose": False}, {}]     # all rows at once: a quick verdict, then the diagnosis


async def test_a_list_answer_shows_each_element_and_enter_goes_to_the_wrong_one(tmp_path):
    path = scenario_copy(tmp_path, "mlp-2layer-backprop.yaml", ("  a1: [0.6106, 0.5498]", "  a1: [0.6106, 0.4000]"),
                         ("[0.0154, 0.0309]]", "[0.0154, -0.0309]]"))
    app = NnlabApp(str(path))
    async with app.run_test(size=(120, 36)) as pilot:
        lab, check = await open_check(pilot)
        await diagnosed(pilot, check)
        assert why(check, "a1").startswith("elements: [0] ✓ [1] ✗")
        assert why(check, "grad(W1)").startswith("elements: [0, 0] ✓ [0, 1] ✓ [1, 0] ✓ [1, 1] ✗")
        row_of(check, "grad(W1)").input.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is lab
        st = lab.model.steps[lab.step]
        slot, index = lab.model.element_at(lab.step, lab.element)
        assert st.phase == "backward" and st.inputs[slot] == "W1" and index == (1, 1)
        await pilot.press("c")
        check = app.screen
        row_of(check, "a1").input.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert lab.model.steps[lab.step].node == "a1" and lab.model.element_at(lab.step, lab.element)[1] == (1,)
