"""The home screen: scenarios by topic with a preview, recent files, opening a path."""

from __future__ import annotations

import json
import os

from textual.widgets import Input, OptionList

from nnlab.tui.app import NnlabApp
from nnlab.tui.recent import load_recent, state_file
from nnlab.tui.screens.home import HomeScreen, preview_text, scan_header
from nnlab.tui.screens.lab import LabScreen
from tests.functional.tui.conftest import FIXTURES, wait_for, wait_loaded

SIZE = (100, 30)


def option_texts(ol: OptionList) -> list[str]:
    return [str(ol.get_option_at_index(k).prompt) for k in range(ol.option_count)]


async def test_lists_scenarios_grouped_by_topic_with_a_preview():
    app = NnlabApp(library=FIXTURES)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, HomeScreen)
        ol = app.screen.query_one("#scenarios", OptionList)
        texts = option_texts(ol)
        topics = [t for k, t in enumerate(texts) if ol.get_option_at_index(k).disabled]
        assert topics == ["backprop", "convolution", "perceptron", "regression", "other"]  # other last
        conv = texts.index("convolution")
        assert texts[conv + 1].strip().startswith("alexnet-conv1")
        highlighted = ol.get_option_at_index(ol.highlighted)
        assert not highlighted.disabled
        home = app.screen
        await wait_for(pilot, lambda: "shapes" in home.preview_plain)
        assert "Two-layer MLP, one wrong answer" in home.preview_plain
        assert "z1 = W1 @ x + b1" in home.preview_plain
        assert "shapes  z1 2, a1 2, yhat 1, loss scalar" in home.preview_plain


async def test_enter_opens_the_highlighted_scenario_and_it_becomes_recent():
    app = NnlabApp(library=FIXTURES)
    async with app.run_test(size=SIZE) as pilot:
        ol = app.screen.query_one("#scenarios", OptionList)
        target = next(k for k in range(ol.option_count) if "conv-pad" in str(ol.get_option_at_index(k).prompt))
        ol.highlighted = target
        await pilot.press("enter")
        lab = app.screen
        assert isinstance(lab, LabScreen) and lab.path.endswith("conv-pad.yaml")
        await wait_loaded(pilot)
        assert lab.model.title.startswith("Convolution with padding")
        await pilot.pause()
    assert load_recent() == [os.path.abspath(str(FIXTURES / "conv-pad.yaml"))]
    assert json.loads(state_file().read_text())[0].endswith("conv-pad.yaml")


async def test_recent_files_are_listed():
    from nnlab.tui.recent import add_recent

    add_recent(str(FIXTURES / "mlp.yaml"))
    app = NnlabApp(library=FIXTURES)
    async with app.run_test(size=SIZE):
        texts = option_texts(app.screen.query_one("#scenarios", OptionList))
        k = texts.index("recent files")
        assert texts[k + 1].strip().endswith("mlp.yaml")


async def test_open_a_typed_path():
    app = NnlabApp(library=FIXTURES)
    async with app.run_test(size=SIZE) as pilot:
        home = app.screen
        await pilot.press("o")
        assert isinstance(app.focused, Input)
        await pilot.press(*"/no/such/file.yaml", "enter")
        assert app.screen is home                       # a notification, not a crash
        box = home.query_one("#open-path", Input)
        box.value = str(FIXTURES / "mlp.yaml")
        await pilot.press("enter")
        assert isinstance(app.screen, LabScreen)
        await wait_loaded(pilot)
        assert app.screen.model.title == "Two-layer MLP, one wrong answer"


def test_scan_header_and_preview_read_plain_text():
    assert scan_header(FIXTURES / "mlp.yaml") == ("Two-layer MLP, one wrong answer", "backprop")
    text = preview_text(str(FIXTURES / "conv-pad.yaml")).plain
    assert "Y = conv2d(X, K, stride=[3, 2], padding=1)" in text      # brackets survive
    assert "X  3×3" in text and "backward from loss" in text and "2 answers to check" in text
    broken = preview_text(str(FIXTURES / "missing.yaml")).plain
    assert "missing.yaml" in broken


async def test_escape_in_a_lab_opened_from_home_goes_back():
    app = NnlabApp(library=FIXTURES)
    async with app.run_test(size=SIZE) as pilot:
        home = app.screen
        await pilot.press("enter")
        lab = app.screen
        assert isinstance(lab, LabScreen)
        await wait_loaded(pilot)
        await pilot.press("escape")
        assert app.screen is home
