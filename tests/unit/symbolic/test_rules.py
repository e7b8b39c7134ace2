"""Per-step rules: every op has one, and the ones the lecture shows read as it writes them."""

from __future__ import annotations

import sympy as sp

from nnlab.engine.ops import REGISTRY
from nnlab.session import open_session
from nnlab.library import bundled
from nnlab.symbolic import ops as symops
from nnlab.symbolic.rules import step_rule
from tests.unit.symbolic.conftest import fixture_run, scenario_run


def test_every_registered_op_has_a_symbolic_form():
    missing = sorted(name for name, cls in REGISTRY.items() if not symops.has_symbolic_form(cls))
    assert not missing, missing


def test_every_step_of_every_bundled_scenario_has_a_rule():
    for path in bundled():
        run = open_session(str(path)).run
        seen = set()
        for step in run.steps:
            if (step.node, step.phase) in seen:
                continue
            seen.add((step.node, step.phase))
            rule = step_rule(run, step)
            assert rule.step == step.index and rule.unicode and rule.latex, (path.name, step.label)
            assert not any("no symbolic rule" in n for n in rule.notes), (path.name, step.op)


def _rule(run, node, phase="forward"):
    step = next(s for s in run.steps if s.node == node and s.phase == phase)
    return step_rule(run, step)


def test_sigmoid_rule_is_derived_and_written_with_the_output():
    run = fixture_run("lecture-2layer")
    rule = _rule(run, "a1")
    (d,) = rule.derivatives
    z, a = sp.Symbol("z1", real=True), sp.Symbol("a1", real=True)
    assert d.in_output == a * (1 - a)
    assert d.unicode == "∂a1/∂z1 = σ(z1)·(1 − σ(z1)) = a1·(1 − a1)"
    assert rule.unicode.splitlines()[0] == "a1 = σ(z1)"
    assert "\\sigma" in rule.latex
    assert rule.element_derivatives[0].unicode == "∂a1[0]/∂z1[0] = σ(z1[0])·(1 − σ(z1[0])) = a1[0]·(1 − a1[0])"
    assert isinstance(d.expr, sp.Expr) and d.expr.has(z)


def test_bce_rule_is_the_lectures():
    rule = _rule(fixture_run("one-neuron"), "loss")
    assert rule.unicode.splitlines()[0] == "loss = −y·ln(ŷ) − (1 − y)·ln(1 − ŷ)"
    assert rule.derivatives[0].unicode == "∂loss/∂ŷ = (1 − y)/(1 − ŷ) − y/ŷ"


def test_affine_and_matmul_rules_index_the_sum():
    rule = _rule(fixture_run("lecture-2layer"), "z1")
    assert rule.unicode.splitlines()[0] == "z1[i] = Σⱼ W1[i,j]·x[j] + b1[i]"
    assert [d.unicode for d in rule.derivatives] == [
        "∂z1[i]/∂W1[i,j] = x[j]", "∂z1[i]/∂x[j] = W1[i,j]", "∂z1[i]/∂b1[i] = 1"]
    assert "element: z1[0] = b1[0] + W1[0,0]·x[0] + W1[0,1]·x[1]" in rule.unicode


def test_softmax_rule():
    run = scenario_run("nnlab: 1\ntitle: t\nvalues: {f: [2.0, 1.0, 0.1]}\ncompute:\n  - p = softmax(f)\n")
    rule = _rule(run, "p")
    assert rule.derivatives[0].unicode == "∂p[i]/∂f[j] = p[i]·(δᵢⱼ − p[j])"
    assert "∂p[0]/∂f[1] = −softmax(f)[0]·softmax(f)[1] = −p[0]·p[1]" in rule.unicode


def test_cross_entropy_rule_is_p_minus_onehot():
    rule = _rule(fixture_run("softmax-ce"), "loss")
    assert rule.derivatives[0].unicode == "∂loss/∂logits[k] = (softmax(logits)[k] − onehot(t)[k])/2"
    assert any("p − onehot" in n for n in rule.notes)


def test_conv_rule_substitutes_stride_and_padding():
    run = scenario_run("nnlab: 1\ntitle: t\nvalues:\n  X: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]\n"
                       "  K: [[1, 0], [0, 1]]\ncompute:\n  - Y = conv2d(X, K, stride=2, padding=1)\n")
    rule = _rule(run, "Y")
    assert rule.unicode.splitlines()[0] == "Y[i,j] = Σₐᵦ K[a,b]·X[2·i + a − 1, 2·j + b − 1]"
    texts = [d.unicode for d in rule.derivatives]
    assert "∂Y[i,j]/∂K[a,b] = X[2·i + a − 1, 2·j + b − 1]" in texts
    assert "∂Y[i,j]/∂X[r,q] = K[r − 2·i + 1, q − 2·j + 1]" in texts


def test_maxpool_rule_routes_to_the_maximum():
    run = scenario_run("nnlab: 1\ntitle: t\nvalues:\n  X: [[1, 2], [4, 3]]\ncompute:\n  - Y = maxpool2d(X, 2)\n")
    rule = _rule(run, "Y")
    assert "first maximum" in rule.derivatives[0].unicode
    assert rule.element_derivatives[2].unicode == "∂Y[0,0]/∂X[1,0] = [X[1,0] is the max of (X[0,0], X[0,1], X[1,0], X[1,1])]"


def test_relu_rule_states_the_convention():
    run = scenario_run("nnlab: 1\ntitle: t\nvalues: {x: [0.0, 1.0]}\ncompute:\n  - y = relu(x)\n")
    rule = _rule(run, "y")
    assert rule.derivatives[0].unicode == "∂y/∂x = [x > 0]"
    assert any("relu'(0) = 0" in n for n in rule.notes)


def test_backward_steps_add_the_chain_rule_line():
    run = fixture_run("lecture-2layer")
    rule = _rule(run, "a1", "backward")
    assert rule.backward == "∂loss/∂z1 = ∂loss/∂a1 · ∂a1/∂z1"
    assert rule.unicode.splitlines()[0] == rule.backward
    layer = _rule(run, "z1", "backward")
    assert layer.backward.split("; ") == [
        "∂loss/∂W1[i,j] = ∂loss/∂z1[i] · ∂z1[i]/∂W1[i,j]",
        "∂loss/∂x[j] = Σᵢ ∂loss/∂z1[i] · ∂z1[i]/∂x[j]",
        "∂loss/∂b1[i] = ∂loss/∂z1[i] · ∂z1[i]/∂b1[i]"]


def test_training_update_steps_have_a_rule():
    from nnlab.library import find

    session = open_session(str(find("train-gd-step")))
    run = session.run
    step = next(s for s in session.steps if s.phase == "update")
    rule = step_rule(run, step)
    assert rule.unicode.startswith(f"{step.node} ← {step.node} − η·∂")


def test_rules_are_cached_and_carry_the_step_index():
    run = fixture_run("lecture-2layer")
    a = step_rule(run, 2)
    b = step_rule(run, run.steps[2])
    assert a is b and a.step == 2
