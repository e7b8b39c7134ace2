"""Questions about shapes, sizes and errors (issue #16):

* a shape question (every reference ``shape``/``size``/``params``) is answered from shape
  inference alone: VGG-16's 138,357,544 parameters without allocating a tensor (the element
  limit does not refuse it), and for every bundled scenario the answers equal the full run's;
* ``options.max_elements`` is the scenario's own limit, in ``nnlab check`` and in the lab's
  ``open_session`` alike;
* ``expect: {error: shape}`` / ``{error: domain}``: the scenario is meant to fail;
* ``nnlab check --json`` on an invalid file prints a JSON object on stdout, exit 2.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from nnlab.engine.shapes import SHAPES_ONLY
from nnlab.errors import NnlabError
from nnlab.library import bundled
from nnlab.scenario import loads
from nnlab.scenario.model import is_shape_question
from nnlab.session import open_session, session_from_scenario
from nnlab.session import error_reason
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
VGG = ROOT / "scenarios" / "vgg16-params.yaml"


def vgg16_parameters_by_torch() -> int:
    """VGG-16 (configuration D) built from torch layers on the meta device (no memory): Σ numel."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    layers, c = [], 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1, device="meta"), nn.ReLU()]
            c = v
    layers += [nn.Flatten(), nn.Linear(512 * 7 * 7, 4096, device="meta"), nn.ReLU(),
               nn.Linear(4096, 4096, device="meta"), nn.ReLU(), nn.Linear(4096, 1000, device="meta")]
    return sum(p.numel() for p in nn.Sequential(*layers).parameters())


def test_vgg16_parameter_count_needs_no_memory():
    tracemalloc.start()
    try:
        session = open_session(str(VGG), shapes="prefer")
        report = session.check()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok, [(i.ref, i.actual, i.error) for i in report.items if not i.ok]
    assert session.scenario.shape_only and session.run.arithmetic == SHAPES_ONLY
    assert session.evaluate("params") == 138_357_544
    assert peak < 100 * 2**20, f"{peak / 2**20:.1f} MiB"  # measured: 0.3 MiB (the weights alone are 1.1 GB)


def test_vgg16_parameter_count_matches_torch():
    assert open_session(str(VGG), shapes="prefer").evaluate("params") == vgg16_parameters_by_torch() == 138_357_544


def test_the_lab_falls_back_to_shapes_when_values_would_be_refused():
    """fc1.W has 102,764,544 elements, over the default limit: computing is refused, shapes are not."""
    with pytest.raises(NnlabError, match="over the limit"):
        open_session(str(VGG), shapes="never")
    session = open_session(str(VGG))
    assert session.scenario.shape_only and len(session.steps) == 37 and session.check().ok


def test_check_of_vgg16_in_process():
    p = run_cli("check", str(VGG))
    assert p.returncode == 0, p.stderr
    assert "all 7 answers match" in p.stdout and "shapes only" in p.stdout


def _asks_shapes(path: Path) -> bool:
    scenario = loads(path.read_text(encoding="utf-8"), str(path))
    return scenario.expect_error is None and is_shape_question(scenario.expect)


SHAPE_SCENARIOS = [p for p in bundled() if p.stem != "vgg16-params" and _asks_shapes(p)]


def test_some_bundled_scenarios_are_shape_questions():
    assert {p.stem for p in SHAPE_SCENARIOS} >= {"conv-alexnet-params"}


@pytest.mark.parametrize("path", SHAPE_SCENARIOS, ids=[p.stem for p in SHAPE_SCENARIOS])
def test_shape_only_answers_equal_the_full_run(path):
    full = open_session(str(path), shapes="never")
    shapes = open_session(str(path), shapes="prefer")
    assert not full.scenario.shape_only and shapes.scenario.shape_only
    assert [i.as_json() for i in shapes.check().items] == [i.as_json() for i in full.check().items]


@pytest.mark.parametrize("expect, shape_only", [
    ("params: 6", True), ("size(y) + 1: 4", True), ("shape(y)[0]: 3", True), ("'size(y)': 3", True),
    ("(3 - 1) * 2: 4", True), ("prod(shape(W)): 6", True),
    ("y: [0, 0, 0]", False), ("sum(y): 0", False), ("size(y): 'sum(y) + 3'", False)])
def test_what_counts_as_a_shape_question(expect, shape_only):
    text = f"nnlab: 1\ntitle: t\nvalues:\n  W: {{shape: [3, 2]}}\n  x: [1, 2]\nlearn: [W]\n" \
           f"compute:\n  - y = W @ x\nexpect:\n  {expect}\n"
    assert loads(text, "t.yaml", shapes_only=True).shape_only == shape_only


def test_a_shape_question_is_not_refused_by_the_element_limit_but_values_are():
    text = """\
nnlab: 1
title: A 1024×1024×3 input under 40 filters of 3×3
values:
  X: {shape: [3, 1024, 1024], init: normal}
  K: {shape: [40, 3, 3, 3], init: normal}
learn: [K]
compute:
  - Y = conv2d(X, K)
options: {max_elements: 1000000}
expect:
  shape(Y): [40, 1022, 1022]
  params: 1080
"""
    with pytest.raises(NnlabError, match="over the limit of 1,000,000"):
        session_from_scenario(loads(text, "t.yaml"))
    tracemalloc.start()
    try:
        session = session_from_scenario(loads(text, "t.yaml", shapes_only=True))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert session.check().ok and peak < 2**20


def test_the_fallback_to_shapes_reads_the_file_once(monkeypatch):
    """``run``/``validate``/the lab read a shape question too large to compute from shapes, and from
    one parse: VGG-16's first read used to make its 14.7 million convolution weights before being refused."""
    from nnlab.scenario import model

    parses = []
    real = model.load_yaml
    monkeypatch.setattr(model, "load_yaml", lambda *a, **k: parses.append(1) or real(*a, **k))
    scenario = model.load(VGG, shapes_fallback=True)
    assert scenario.shape_only and len(parses) == 1
    assert session_from_scenario(scenario).check().ok


def test_the_fallback_keeps_the_limit_for_what_is_not_a_shape_question():
    text = ("nnlab: 1\ntitle: t\nvalues:\n  x: {shape: [100], init: ones}\ncompute:\n  - y = 2 * x\n"
            "options: {max_elements: 50}\nexpect:\n  sum(y): 200\n")
    for how in ({}, {"shapes_fallback": True}):
        with pytest.raises(NnlabError, match="'x' has 100 elements, over the limit of 50") as err:
            loads(text, "t.yaml", **how)
        assert (err.value.loc.line, err.value.loc.col) == (4, 6)


def test_validate_reads_a_result_too_large_to_compute_as_run_does(tmp_path):
    """Small inputs whose product is over the limit: a shape question, answered from shapes by
    ``run`` and ``check``; ``validate`` used to report the limit instead."""
    f = tmp_path / "outer.yaml"
    f.write_text("nnlab: 1\ntitle: t\nvalues:\n  a: {shape: [300, 1]}\n  b: {shape: [1, 300]}\n"
                 "compute:\n  - Y = a @ b\noptions: {max_elements: 50000}\nexpect:\n  shape(Y): [300, 300]\n")
    run, check, valid = run_cli("run", str(f)), run_cli("check", str(f)), run_cli("validate", str(f))
    assert run.returncode == 0 and f"1 step · {SHAPES_ONLY}\n" in run.stdout
    assert check.returncode == 0 and valid.returncode == 0 and valid.stdout.endswith(": OK (1 step)\n")
    f.write_text(f.read_text().replace("shape(Y): [300, 300]", "sum(Y): 0"))  # values asked: the limit stands
    for p in (run_cli("run", str(f)), run_cli("validate", str(f))):
        assert p.returncode == 2 and "this result would have 90,000 elements, over the limit of 50,000" in p.stderr


def test_options_max_elements_is_the_scenarios_limit_everywhere(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text("nnlab: 1\ntitle: t\nvalues:\n  x: {shape: [100], init: ones}\ncompute:\n  - y = 2 * x\n"
                 "options: {max_elements: 50}\nexpect:\n  sum(y): 200\n")
    with pytest.raises(NnlabError, match="over the limit of 50"):
        open_session(str(f))  # the lab's way in
    p = run_cli("check", str(f))
    assert p.returncode == 2 and "over the limit of 50" in p.stderr
    assert run_cli("check", "--max-elements", "100", str(f)).returncode == 0  # the flag wins


# ------------------------------------------------------------------ expected errors

BROADCAST = """\
nnlab: 1
title: Does (3, 4) + (4, 3) broadcast?
values:
  A: {{shape: [3, 4], init: range}}
  B: {{shape: [4, 3], init: ones}}
compute:
  - C = A @ B
  - D = {line}
expect:
  shape(C): [3, 3]
  error: {kind}
"""


@pytest.mark.parametrize("line, kind, ok, shown", [
    ("A + B", "shape", True, "shape error (line 8): shapes (3, 4) and (4, 3) do not broadcast"),
    ("A + B", "domain", False, "shape error (line 8)"),
    ("A @ B", "shape", False, "no error: the run succeeded"),
    ("log(A)", "domain", True, "domain error (line 8): inf appears at step 2 (D = log(A))"),
    ("C / 0", "domain", True, "domain error (line 8)"),
])
def test_expected_errors(tmp_path, line, kind, ok, shown):
    f = tmp_path / "e.yaml"
    f.write_text(BROADCAST.format(line=line, kind=kind))
    session = open_session(str(f))
    report = session.check()
    assert [i.ref for i in report.items] == ["shape(C)", "error"]
    assert report.items[0].ok  # the lines before the failing one still run
    item = report.items[1]
    assert item.ok == ok and item.actual.startswith(shown), item.actual
    assert len(session.steps) >= 1 and session.steps[0].node == "C"
    p = run_cli("check", str(f))
    assert p.returncode == (0 if ok else 1)
    assert shown in p.stdout
    why = {True: "", False: f"why: {error_reason(kind, session.failure)}"}[ok]
    assert (why in p.stdout) and (ok or "not a" in why or "succeeds" in why), p.stdout  # the same why as the lab
    data = json.loads(run_cli("check", "--json", str(f)).stdout)
    assert data[1] == {**data[1], "ref": "error", "expected": kind, "ok": ok}


def test_an_error_on_the_first_line_leaves_no_step_but_still_checks():
    text = BROADCAST.format(line="A + B", kind="shape").replace("  - C = A @ B\n", "").replace("  shape(C): [3, 3]\n", "")
    session = session_from_scenario(loads(text, "t.yaml"))
    assert len(session.steps) == 0 and session.failure is not None and session.check().ok


def test_without_error_expected_a_failure_is_still_an_error():
    text = BROADCAST.format(line="A + B", kind="shape").replace("  error: shape\n", "")
    with pytest.raises(NnlabError, match="do not broadcast"):
        session_from_scenario(loads(text, "t.yaml"))


def test_a_node_named_error_is_still_an_ordinary_reference():
    text = "nnlab: 1\ntitle: t\nvalues: {x: 2}\ncompute:\n  - error = x - 1\nexpect:\n  error: 1\n"
    session = session_from_scenario(loads(text, "t.yaml"))
    assert session.scenario.expect_error is None and session.check().ok


# ------------------------------------------------------------------ check --json on invalid files


def test_check_json_on_an_invalid_file_prints_a_json_object(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("nnlab: 1\ntitle: t\ncompute:\n  - y = 1 +\n")
    p = run_cli("check", "--json", str(f))
    assert p.returncode == 2
    data = json.loads(p.stdout)
    assert data["line"] == 4 and data["column"] == 9 and "syntax" in data["error"] and data["kind"] == "syntax"
    assert "bad.yaml:4:9" in p.stderr


def test_check_json_on_a_missing_file(tmp_path):
    p = run_cli("check", "--json", str(tmp_path / "nope.yaml"))
    assert p.returncode == 2
    data = json.loads(p.stdout)
    assert data["error"].startswith("no such file") and data["line"] is None and data["column"] is None


def test_bundled_broadcast_quiz_agrees_with_numpy():
    """NumPy's own broadcasting rule: A @ B and A * B.T work, A + B raises."""
    import numpy as np

    A, B = np.zeros((3, 4)), np.ones((4, 3))
    assert (A @ B).shape == (3, 3) and (A * B.T).shape == (3, 4)
    with pytest.raises(ValueError, match="broadcast"):
        A + B
    session = open_session(str(ROOT / "scenarios" / "broadcast-error.yaml"))
    answers = {e.ref: e.answer for e in session.scenario.expect}
    assert list(answers["shape(C)"]) == [3, 3] and answers["size(E)"] == (A * B.T).size
    assert session.scenario.expect_error.kind == "shape" and session.check().ok
