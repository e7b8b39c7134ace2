"""Authoring: the JSON Schema, `nnlab new`, and the messages a newcomer gets for common mistakes."""

import json
from pathlib import Path

import pytest

from nnlab.session import open_session
from nnlab.errors import NnlabError
from nnlab.library import bundled
from nnlab.scenario.schema import scenario_schema
from nnlab.scenario.yamlsrc import load_yaml
from nnlab.templates import TEMPLATES
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
jsonschema = pytest.importorskip("jsonschema")


def test_schema_files_are_current():
    want = json.dumps(scenario_schema(), indent=2, ensure_ascii=False) + "\n"
    for path in (ROOT / "docs" / "scenario.schema.json", ROOT / "nnlab" / "scenario.schema.json"):
        assert path.read_text(encoding="utf-8") == want, f"regenerate {path} with `nnlab schema`"


@pytest.mark.parametrize("path", bundled(), ids=[p.stem for p in bundled()])
def test_schema_validates_every_bundled_scenario(path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema="), "missing the modeline"
    jsonschema.validate(load_yaml(text).to_py(), scenario_schema())


def test_schema_rejects_unknown_keys():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"nnlab": 1, "title": "t", "compute": ["y = 1"], "backwards": "y"}, scenario_schema())


@pytest.mark.parametrize("topic", sorted(TEMPLATES))
def test_new_writes_a_scenario_that_runs_and_checks(topic, tmp_path):
    target = tmp_path / f"{topic}.yaml"
    proc = run_cli("new", topic, str(target))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"wrote {target}")
    session = open_session(str(target))
    report = session.check()
    assert report.items and report.ok, [(i.ref, i.actual, i.error) for i in report.items]
    jsonschema.validate(load_yaml(target.read_text()).to_py(), scenario_schema())


GOOD = """nnlab: 1
title: newcomer
values:
  W: [[1, 2], [3, 4]]
  x: [1, 2]
  b: [0, 1]
  X: [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
  K: [[0, 1], [2, 3]]
compute:
  - z = W @ x + b
  - a = sigmoid(z)
  - Y = conv2d(X, K, padding=1)
  - loss = sum(a)
backward: loss
"""

# Ten ways a student breaks a scenario, and what nnlab must say.
BROKEN = {
    "typo in a name": (GOOD.replace("sigmoid(z)", "sigmoid(zz)"), "unknown name 'zz'", "did you mean 'z'?"),
    "typo in a function": (GOOD.replace("sigmoid(z)", "sigmoud(z)"), "unknown function 'sigmoud'",
                           "did you mean 'sigmoid'?"),
    "wrong shapes": (GOOD.replace("x: [1, 2]", "x: [1, 2, 3]"), "(2, 2) @ (3,) do not match", "transpose"),
    "missing =": (GOOD.replace("- a = sigmoid(z)", "- a sigmoid(z)"), "expected 'name = expression'",
                  "did you mean `a = sigmoid(z)`?"),
    "tabs in YAML": (GOOD.replace("  x: [1, 2]", "\tx: [1, 2]"), "YAML syntax", "tabs"),
    "non-rectangular list": (GOOD.replace("[[1, 2], [3, 4]]", "[[1, 2], [3]]"), "not rectangular",
                             "same number of entries"),
    "wrong padding keyword": (GOOD.replace("padding=1", "pad=1"), "conv2d() has no argument 'pad'",
                              "did you mean 'padding'?"),
    "unknown top key": (GOOD.replace("backward: loss", "backprop: loss"), "unknown key 'backprop'",
                        "did you mean 'backward'?"),
    "backward target missing": (GOOD.replace("backward: loss", "backward: Loss"), "not a node",
                                "did you mean 'loss'?"),
    "unbalanced parenthesis": (GOOD.replace("sigmoid(z)", "sigmoid(z"), "syntax error", "parentheses"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_newcomer_mistakes_get_designed_messages(name, tmp_path):
    text, message, hint = BROKEN[name]
    f = tmp_path / "broken.yaml"
    f.write_text(text)
    with pytest.raises(NnlabError) as info:
        open_session(str(f))
    err = info.value
    assert message in err.message, err.format()
    assert hint in (err.hint or ""), err.format()
    assert err.loc is not None and err.loc.line > 0 and err.loc.col > 0
    out = err.format()
    assert out.startswith(f"{f}:{err.loc.line}:{err.loc.col}: error:") and "^" in out
