"""``nnlab serve`` without a browser: the offline page, the per-tab command, its errors."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from nnlab.commands import serve
from tests.helpers import run_cli


def test_the_page_loads_nothing_from_the_internet():
    textual_serve = pytest.importorskip("textual_serve", reason="textual-serve is not installed (nnlab[web])")
    template = (Path(textual_serve.__file__).parent / "templates" / "app_index.html").read_text(encoding="utf-8")
    assert "fonts.googleapis.com" in template  # what is replaced
    page = serve.offline_page(template)
    assert "googleapis" not in page and "https://" not in page
    assert "fonts/RobotoMono-VariableFont_wght.ttf" in page
    font = Path(textual_serve.__file__).parent / "static" / "fonts" / "RobotoMono-VariableFont_wght.ttf"
    assert font.is_file()  # the local font the page now names


def test_a_page_that_fetches_elsewhere_is_refused():
    with pytest.raises(ValueError, match="internet"):
        serve.offline_page('<script src="https://cdn.example/x.js"></script>')


def test_each_tab_runs_the_lab_on_the_file(tmp_path):
    path = tmp_path / "my scenario.yaml"
    words = shlex.split(serve.command(str(path)))
    assert words == [sys.executable, "-m", "nnlab.commands.serve", "--lab", str(path)]
    assert shlex.split(serve.command(None))[-1] == "--lab"  # the home screen


def test_a_missing_file_is_refused_before_serving():
    result = run_cli("serve", "no-such-scenario.yaml", "--port", "1")
    assert result.returncode == 2 and "no such file: no-such-scenario.yaml" in result.stderr
