"""A scenario meant to fail (``expect: {error: shape}``, issue 16) in the lab and its check screen.

The lab's step list ends with the failed line (``✗ D = A + B   shape error``); selecting it
shows the engine's located message and hint. The check screen has a row for the ``error:``
answer: ✓ when the run stops with that kind of error, ✗ with a why line otherwise; hidden
in a bundled scenario until right or revealed; saved back as a bare kind.
"""

from __future__ import annotations

from nnlab.library import scenarios_dir
from nnlab.scenario.model import load
from nnlab.tui.screens.check import CheckScreen
from tests.functional.tui.conftest import open_lab, wait_for

SIZE = (100, 30)
BROADCAST = scenarios_dir() / "broadcast-error.yaml"
LOG = """nnlab: 1
title: log of zero
values:
  x: [1.0, 0.0]
compute:
  - y = 2 * x
  - L = log(x)
expect:
  y: [2, 0]
  error: {kind}
"""


def failed_row(lab):
    rows = [r for r in lab.model.rows if r.kind == "failed"]
    assert len(rows) == 1 and rows[-1] is lab.model.rows[-1]  # one, and the last row
    return rows[0]


def graph_line(lab, row) -> str:
    graph = lab.query_one("#graph")
    return graph.render_line(lab.model.rows.index(row) - int(graph.scroll_y)).text


async def open_check(pilot) -> CheckScreen:
    await pilot.press("c")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CheckScreen))
    check = pilot.app.screen
    await wait_for(pilot, lambda: not check.diagnosing)
    return check


def error_row(check: CheckScreen):
    return next(r for r in check.rows if r.expects_error)


def cells(row) -> tuple[str, str, str, str]:
    return (row.input.value, str(row.computed.render()), str(row.mark.render()),
            str(row.why.render()) if row.why.display else "")


async def test_the_failed_line_is_the_last_row_and_shows_the_located_error_and_hint():
    async with open_lab(str(BROADCAST), size=SIZE) as (app, pilot, lab):
        row = failed_row(lab)
        assert (row.text, row.shape) == ("✗ D = A + B", "shape error")
        assert [r.text for r in lab.model.rows if r.kind != "header"] == ["C = A @ B", "B.T", "E = A * B.T",
                                                                           "✗ D = A + B"]
        assert "✗ D = A + B" in graph_line(lab, row) and "shape error" in graph_line(lab, row)
        await pilot.press("end")
        assert lab.step == row.step == 3
        math = lab.query_one("#math").plain
        assert "✗ D = A + B — the run stops here with a shape error" in math
        # the message as the engine writes it: brackets and all (plain text, not markup)
        assert "broadcast-error.yaml:25:9: error: shapes (3, 4) and (4, 3) do not broadcast for '+'" in math
        assert "  25 |   - D = A + B" in math and "^^^^^" in math
        assert "hint: elementwise ops need equal shapes" in math
        assert "step 4 · ✗ D = A + B" in str(lab.query_one("#math").border_title)
        status = str(lab.query_one("#status").render())
        assert "failed" in status and "step 4/4" in status and "shape error at line 25" in status
        tensors = lab.query_one("#tensors")
        assert [(op.title, op.shape) for op in tensors.operands] == [("A", (3, 4)), ("B", (4, 3))]
        await pilot.press("left")                                   # back to the lines that ran
        assert lab.step == 2 and "E = A * B.T" in str(lab.query_one("#math").border_title)
        await pilot.press("right", "right", "down", "period", "t")  # no element, no slice, nothing to predict
        assert lab.step == 3 and app.screen is lab


async def test_a_domain_error_row_and_a_click_on_it(tmp_path):
    path = tmp_path / "log.yaml"
    path.write_text(LOG.format(kind="domain"))
    async with open_lab(str(path), size=SIZE) as (_app, pilot, lab):
        row = failed_row(lab)
        assert (row.text, row.shape, row.step) == ("✗ L = log(x)", "domain error", 1)
        graph = lab.query_one("#graph")
        await pilot.click(graph, offset=(3, 1 + lab.model.rows.index(row)))  # inside the border
        assert lab.step == 1
        math = lab.query_one("#math").plain
        assert "log.yaml:7:9: error: inf appears at step 2 (L = log(x)), element L[1]" in math
        assert "hint: log of 0 or of a negative number" in math


async def test_a_first_line_that_fails_leaves_only_the_failed_row(tmp_path):
    path = tmp_path / "first.yaml"
    path.write_text("nnlab: 1\ntitle: t\nvalues:\n  A: {shape: [2, 3], init: ones}\n  B: {shape: [2, 2], init: ones}\n"
                    "compute:\n  - C = A @ B\nexpect:\n  error: shape\n")
    async with open_lab(str(path), size=SIZE) as (_app, pilot, lab):
        assert [r.text for r in lab.model.rows] == ["✗ C = A @ B"] and lab.step == 0
        math = lab.query_one("#math").plain
        assert "3 ≠ 2 on the inner dimension" in math and "no line ran before it" in math
        check = await open_check(pilot)
        assert cells(error_row(check))[1:3] == ("shape error (line 7)", "✓")


async def test_check_row_for_a_matching_error_kind_is_hidden_until_right_then_shows_the_message():
    async with open_lab(str(BROADCAST), size=SIZE) as (app, pilot, lab):
        check = await open_check(pilot)
        assert [r.ref for r in check.rows] == ["shape(C)", "size(E)", "error"]  # in its place in expect:
        row = error_row(check)
        assert cells(row) == ("", "hidden", "?", "")                           # a bundled quiz: hidden
        assert row.input.placeholder.startswith("?  shape or domain")
        row.input.focus()
        await pilot.press(*"domain")                                          # wrong: nothing given away
        _value, computed, mark, why = cells(row)
        assert (computed, mark) == ("hidden until right", "✗")
        assert why == "why: the run does not stop with a domain error (ctrl+r reveals how it ends)"
        assert "do not broadcast" not in why
        row.input.value = ""
        await pilot.press(*"Shape")                                           # right (any case)
        assert cells(row) == ("Shape", "shape error (line 25)", "✓",
                              "shapes (3, 4) and (4, 3) do not broadcast for '+'")
        await pilot.press("enter")                                            # to the failed line
        assert app.screen is lab and lab.step == 3


async def test_check_row_for_a_non_matching_error_kind_says_why(tmp_path):
    path = tmp_path / "log.yaml"
    path.write_text(LOG.format(kind="shape"))                                 # but it is a domain error
    async with open_lab(str(path), size=SIZE) as (app, pilot, lab):
        check = await open_check(pilot)
        row = error_row(check)
        value, computed, mark, why = cells(row)
        assert (value, computed, mark) == ("shape", "domain error (line 7)", "✗")
        assert why.startswith("why: the run stops with a domain error, not a shape error — a value "
                              "outside an operation's domain")
        assert why.endswith("inf appears at step 2 (L = log(x)), element L[1]")
        summary = str(check.query_one("#check-summary").render())
        assert "first mistake: error — step 2 (the failed line: L = log(x)); ctrl+f goes there" in summary
        await pilot.press("ctrl+f")
        assert app.screen is lab and lab.step == 1
        check = await open_check(pilot)
        row = error_row(check)
        row.input.focus()
        row.input.value = ""
        await pilot.press(*"sha")                                             # half-typed
        assert cells(row)[1:3] == ("type shape or domain", "…")
        await pilot.press(*"pe")
        row.input.value = "domain"
        await pilot.pause()
        assert cells(row)[1:3] == ("domain error (line 7)", "✓")
        assert "all 2 answers match" in str(check.query_one("#check-summary").render())


async def test_check_row_when_the_run_succeeds(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(LOG.format(kind="domain").replace("log(x)", "log(x + 1)"))
    async with open_lab(str(path), size=SIZE) as (_app, pilot, lab):
        assert not any(r.kind == "failed" for r in lab.model.rows) and lab.model.failure_step is None
        check = await open_check(pilot)
        value, computed, mark, why = cells(error_row(check))
        assert (value, computed, mark) == ("domain", "no error", "✗")
        assert why == ("why: the run succeeds: every value stays finite (no log of 0, no division by 0, no overflow), "
                       "so there is no domain error")


async def test_ctrl_s_keeps_error_as_a_bare_kind_and_writes_a_changed_one(tmp_path):
    path = tmp_path / "log.yaml"
    path.write_text(LOG.format(kind="shape"))
    async with open_lab(str(path), size=SIZE) as (_app, pilot, lab):
        check = await open_check(pilot)
        y = next(r for r in check.rows if r.ref == "y")
        y.input.value = "[2, 0.0]"
        await pilot.press("ctrl+s")                                           # another answer: error: untouched
        await wait_for(pilot, lambda: "[2, 0.0]" in path.read_text())
        assert path.read_text() == LOG.format(kind="shape").replace("y: [2, 0]", "y: [2, 0.0]")
        await wait_for(pilot, lambda: lab.model.scenario.expect[0].raw == "[2, 0.0]")
        row = error_row(check)
        row.input.value = " Domain error "
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "error: domain" in path.read_text())
    assert path.read_text() == LOG.format(kind="domain").replace("y: [2, 0]", "y: [2, 0.0]")
    assert load(str(path)).expect_error.kind == "domain"                    # a kind again, not a quoted string


async def test_a_bundled_scenarios_error_answer_is_revealed_by_ctrl_r_and_saved_to_a_copy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    async with open_lab(str(BROADCAST), size=SIZE) as (_app, pilot, _lab):
        check = await open_check(pilot)
        await pilot.press("ctrl+r")
        assert cells(error_row(check))[:3] == ("shape", "shape error (line 25)", "✓")
        error_row(check).input.value = "domain"
        await pilot.press("ctrl+s")
        copy = tmp_path / "broadcast-error.yaml"
        await wait_for(pilot, copy.exists)
    assert copy.read_text() == BROADCAST.read_text().replace("  error: shape\n", "  error: domain\n")
    assert "  error: shape\n" in BROADCAST.read_text()                      # the bundled file is never edited


async def test_a_reload_keeps_the_failed_line_current_and_a_fixed_file_drops_it(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text(BROADCAST.read_text())
    async with open_lab(str(path), size=SIZE) as (_app, pilot, lab):
        await pilot.press("end")
        first = lab.model
        path.write_text(BROADCAST.read_text().replace("D = A + B", "D = B + A"))  # still a shape error
        await wait_for(pilot, lambda: lab.model is not first)
        assert lab.step == lab.model.failure_step == 3 and failed_row(lab).text == "✗ D = B + A"
        assert "✗ D = B + A" in lab.query_one("#math").plain
        second = lab.model
        path.write_text(BROADCAST.read_text().replace("D = A + B", "D = A + B.T"))  # fixed: no failure
        await wait_for(pilot, lambda: lab.model is not second)
        assert lab.model.failure_step is None and lab.step == lab.model.last_step   # on the fixed line
        assert lab.model.steps[lab.step].node == "D" and not any(r.kind == "failed" for r in lab.model.rows)
        check = await open_check(pilot)
        await pilot.press("ctrl+r")
        assert cells(error_row(check))[1:3] == ("no error", "✗")
