"""Follow-through marking: answers judged on their own step, from the user's own earlier answers."""

from __future__ import annotations

import json
import math
import textwrap

import numpy as np

from nnlab.scenario import loads
from nnlab.session import session_from_scenario
from tests.functional.diagnosis.util import MLP, answer_text, check, gd, ids, session, value
from tests.helpers import run_cli


def sig(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def test_a_rounded_chain_is_accepted_via_the_users_own_values():
    """a1 rounded to 2 decimals (✓), then every later answer computed from it, written to 4."""
    a1 = [round(sig(0.45), 2), round(sig(0.2), 2)]
    z2 = 0.5 * a1[0] - 0.3 * a1[1] + 0.2
    yhat = round(sig(round(z2, 4)), 4)
    loss = round(-math.log(yhat), 4)
    text = MLP + (f"expect:\n  a1: [{a1[0]}, {a1[1]}]\n  z2: {z2:.4f}\n  yhat: {yhat:.4f}\n  loss: {loss:.4f}\n")
    plain = session(text).check(diagnose=False)
    assert [i.ok for i in plain.items] == [True, False, False, False]  # a bare check calls them wrong
    report = check(text)
    assert report.ok
    assert [i.via for i in report.items] == [(), ("a1",), ("z2",), ("yhat",)]
    assert all(i.diagnosis == () for i in report.items)


def test_the_issues_example_loss_right_for_the_users_yhat():
    text = MLP + "expect:\n  yhat: 0.584\n  loss: 0.5379\n"  # 0.5379 = −ln(0.584) = 0.53785; the truth is 0.5374
    report = check(text)
    assert report.items[0].ok and report.items[1].ok and report.items[1].via == ("yhat",)


def test_one_early_mistake_then_correct_follow_through():
    """z2 without its bias: one independent mistake; yhat, loss and ∂ℓ/∂z2 carry it."""
    z2 = 0.5 * sig(0.45) - 0.3 * sig(0.2)  # b2 forgotten
    yhat = sig(round(z2, 4))
    loss = -math.log(round(yhat, 4))
    gz2 = round(yhat, 4) - 1
    text = MLP + (f"expect:\n  z1: [0.45, 0.2]\n  z2: {z2:.4f}\n  yhat: {yhat:.4f}\n  loss: {loss:.4f}\n"
                  f"  grad(z2): {gz2:.4f}\n")
    report = check(text)
    z1, z2i, yh, ls, g = report.items
    assert z1.ok and not z2i.ok and "bias-missing" in ids(z2i) and not z2i.carried
    for item, via in ((yh, {"z2"}), (ls, {"yhat"}), (g, {"yhat", "z2"})):
        assert not item.ok and ids(item)[0] == "carried-error" and item.via and set(item.via) <= via, item
    assert report.first_mistake is z2i
    assert sum(not i.carried for i in report.items if not i.ok) == 1


def test_carried_error_through_a_gradient():
    """∂ℓ/∂z2 with the wrong sign; ∂ℓ/∂w2 = ∂ℓ/∂z2 · a1 computed from it is carried."""
    g = value(MLP, "grad(z2)")
    a1 = value(MLP, "a1")
    mine = -round(float(g), 4)  # the sign error, then the right method on it
    text = MLP + f"expect:\n  grad(z2): {mine:.4f}\n  grad(w2): {answer_text(mine * a1, 4)}\n"
    first, second = check(text).items
    assert ids(first) == ["sign-flipped"]
    assert ids(second)[0] == "carried-error" and second.via == ("grad(z2)",)


def test_element_answers_substitute_single_elements():
    z1 = value(MLP, "z1")
    a0 = round(sig(z1[0]), 2)  # the student rounds a1[0] only
    z2 = 0.5 * a0 - 0.3 * sig(z1[1]) + 0.2
    text = MLP + f"expect:\n  a1[0]: {a0}\n  z2: {z2:.5f}\n"
    report = check(text)
    assert report.ok and report.items[1].via == ("a1[0]",)


GD = gd(3)


def test_training_update_from_the_users_wrong_weights_is_carried():
    """epoch(1).w wrong; epoch(2).w computed correctly from it: carried-error via epoch(1).w."""
    wrong_w = np.round(value(GD, "epoch(1).w") + np.array([0.2, -0.1]), 4)
    b1 = value(GD, "epoch(1).b")
    # the oracle: a fresh training that starts from the user's epoch-1 weights, one epoch
    start = GD.replace("values: {w: [0.5, -0.5], b: 0.1}",
                       f"values: {{w: [{wrong_w[0]}, {wrong_w[1]}], b: {float(b1)!r}}}").replace(
        "epochs: 3", "epochs: 1")
    w2 = value(start, "epoch(1).w")
    text = GD + (f"expect:\n  epoch(1).w: {answer_text(wrong_w, 4)}\n  epoch(1).b: {float(b1):.6f}\n"
                 f"  epoch(2).w: {answer_text(w2, 4)}\n")
    report = check(text)
    w1, b, w2i = report.items
    assert not w1.ok and b.ok
    assert not w2i.ok and ids(w2i)[0] == "carried-error" and set(w2i.via) == {"epoch(1).w", "epoch(1).b"}
    assert report.first_mistake is w1


def test_training_rounded_weights_are_accepted():
    w1 = value(GD, "epoch(1).w")
    b1 = float(value(GD, "epoch(1).b"))
    r_w, r_b = np.round(w1, 2), round(b1, 2)
    start = GD.replace("values: {w: [0.5, -0.5], b: 0.1}",
                       f"values: {{w: [{r_w[0]}, {r_w[1]}], b: {r_b}}}").replace("epochs: 3", "epochs: 1")
    w2 = value(start, "epoch(1).w")
    text = GD + (f"expect:\n  epoch(1).w: {answer_text(r_w, 2)}\n  epoch(1).b: {r_b:.2f}\n"
                 f"  epoch(2).w: {answer_text(w2, 6)}\n")
    report = check(text)
    assert report.ok and set(report.items[2].via) == {"epoch(1).w", "epoch(1).b"}


def test_json_contract(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(textwrap.dedent(MLP) + "expect:\n  yhat: 0.584\n  loss: 0.5379\n  grad(z2): 0.4157\n"
                 "  z1: [0.45, 0.2]\n")
    res = run_cli("check", str(f), "--json")
    assert res.returncode == 1
    out = json.loads(res.stdout)
    assert [set(o) for o in out] == [{"ref", "expected", "actual", "ok", "step", "error", "tolerance",
                                      "diagnosis", "via"}] * 4
    assert out[1]["ok"] is True and out[1]["via"] == ["yhat"] and out[1]["diagnosis"] == []
    assert out[2]["diagnosis"][0] == {"id": "sign-flipped", "message": out[2]["diagnosis"][0]["message"],
                                      "step": out[2]["diagnosis"][0]["step"]}
    assert isinstance(out[2]["diagnosis"][0]["step"], int)
    assert out[3] == {**out[3], "ok": True, "diagnosis": [], "via": []}


def test_table_says_why(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(textwrap.dedent(MLP) + "expect:\n  yhat: 0.584\n  loss: 0.5379\n  z2: 0.1404\n")
    res = run_cli("check", str(f))
    assert res.returncode == 1
    assert "✓ right for your own yhat" in res.stdout
    assert "why (bias-missing)" in res.stdout and "tolerance ±0.00005" in res.stdout
    assert "first independent mistake" not in res.stdout  # no carried error here
    assert "first mistake: z2" in res.stdout


def test_all_right_costs_nothing_extra(monkeypatch):
    """With every answer right, the diagnosis module is never consulted."""
    import sys

    sys.modules.pop("nnlab.diagnosis", None)
    s = session_from_scenario(loads(textwrap.dedent(MLP) + "expect:\n  yhat: 0.5843\n", "t.yaml"))
    assert s.check().ok
    assert "nnlab.diagnosis" not in sys.modules


def test_step_at_zero_notice(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(textwrap.dedent("""
    nnlab: 1
    title: step
    values: {w: [0.5, -0.5], x: [1, 1], b: 0}
    compute:
      - z = w @ x + b
      - o = step(z)
    expect:
      o: 0
    """))
    res = run_cli("check", str(f))
    assert res.returncode == 0 and "saw exactly 0" in res.stdout
    assert "saw exactly 0" in run_cli("run", str(f)).stdout


def test_training_values_of_the_same_snapshot_are_used():
    """ŷ at the start rounded to 2 decimals (✓), then the mean loss computed from those ŷ."""
    sig = GD.replace("yhat = w @ x + b", "yhat = sigmoid(w @ x + b)")
    yhat = np.round(value(sig, "epoch(0).yhat"), 2)
    y = np.array([1, 0, 2])
    loss = float(np.mean((yhat - y) ** 2))
    text = sig + f"expect:\n  epoch(0).yhat: {answer_text(yhat, 2)}\n  mean(epoch(0).loss): {loss:.6f}\n"
    report = check(text)
    assert report.ok and report.items[1].via == ("epoch(0).yhat",)
    plain = session(text).check(diagnose=False)
    assert not plain.items[1].ok


def test_a_mistake_made_on_the_users_own_rounded_values_is_found():
    """ŷ rounded (✓), then ∂ℓ/∂z2 = 1 − ŷ from it: the sign error shows only from the user's ŷ."""
    yhat = round(float(value(MLP, "yhat")), 3)  # 0.584: within ±0.0005 of 0.58428
    text = MLP + f"expect:\n  yhat: {yhat:.3f}\n  grad(z2): {1 - yhat:.4f}\n"  # 0.4160, not −(−0.41572)
    first, second = check(text).items
    assert first.ok
    assert ids(second) == ["sign-flipped"] and "your own yhat" in second.diagnosis[0].message


def test_a_node_the_user_gave_is_not_varied_behind_their_value():
    """With a1 answered, 'activation-missing' of a1 cannot show (its forward is the user's a1):
    the missing σ′ is what remains."""
    text = MLP + ("expect:\n  a1: [0.61, 0.55]\n  z2: 0.3400\n  yhat: 0.5842\n"
                  "  grad(W1)[0, 0]: -0.1039\n")
    report = check(text)
    assert [i.ok for i in report.items] == [True, True, True, False]
    assert ids(report.items[3]) == ["activation-derivative-missing"]
