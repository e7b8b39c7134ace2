"""cross_entropy(p, target, logits=False) on probabilities (issue 16): the same targets and
reductions as the logits form, PyTorch's nll_loss(log p) as the oracle, central differences,
and log 0 stops the run at its step."""

import numpy as np
import pytest

from nnlab.engine.ops import REGISTRY
from nnlab.errors import NnlabError
from tests.helpers import run_yaml
from tests.unit.engine.gradcheck import check_op

P = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])


def _ce(p, t, **params):
    op = REGISTRY["cross_entropy"](logits=False, **params)
    y = op.forward(np.asarray(p, dtype=float)[None], np.asarray(t, dtype=float)[None])
    return op, y[0]


def test_class_indices_and_probability_targets_by_hand():
    _, y = _ce(P, [0, 2])
    assert y == pytest.approx((-np.log(0.7) - np.log(0.3)) / 2, abs=1e-15)
    _, y = _ce(P, [[1, 0, 0], [0, 0.5, 0.5]], reduction="sum")
    assert y == pytest.approx(-np.log(0.7) - 0.5 * np.log(0.6) - 0.5 * np.log(0.3), abs=1e-15)
    _, y = _ce(P, [0, 2], reduction="none")
    np.testing.assert_allclose(y, [-np.log(0.7), -np.log(0.3)])


def test_a_class_with_target_zero_never_reads_its_probability():
    # p = 0 where the target is 0: 0·log 0 counts 0 (as xlogy), the loss stays finite
    _, y = _ce([[1.0, 0.0], [0.25, 0.75]], [[1, 0], [0, 1]], reduction="sum")
    assert y == pytest.approx(-np.log(0.75), abs=1e-15)


def test_logits_true_stays_the_default():
    run = run_yaml("nnlab: 1\ntitle: t\nvalues: {z: [2.0, 1.0, 0.1], t: 0}\ncompute:\n"
                   "  - a = cross_entropy(z, t)\n  - b = cross_entropy(softmax(z), t, logits=False)\n")
    assert run.value("a") == pytest.approx(run.value("b"), abs=1e-15)


@pytest.mark.parametrize("shape,targets", [((3,), [2]), ((2, 3), [0, 2]), ((2, 2, 4), [[1, 3], [0, 0]])])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_with_class_indices(shape, targets, reduction):
    p = np.random.default_rng(3).uniform(0.1, 0.9, size=shape)
    t = np.asarray(targets, dtype=float).reshape(shape[:-1])
    check_op(REGISTRY["cross_entropy"], [p, t], skip=(1,), reduction=reduction, logits=False)


def test_gradcheck_with_probability_targets_both_inputs():
    rng = np.random.default_rng(4)
    p, t = rng.uniform(0.1, 0.9, size=(2, 3)), rng.uniform(0, 1, size=(2, 3))
    check_op(REGISTRY["cross_entropy"], [p, t], logits=False)


def test_against_torch_nll_loss_of_log_p():
    torch = pytest.importorskip("torch")
    p = np.random.default_rng(5).dirichlet(np.ones(4), size=3)
    t = np.array([3, 0, 3])
    for reduction in ("mean", "sum", "none"):
        op, y = _ce(p, t, reduction=reduction)
        g = np.random.default_rng(6).normal(size=np.shape(y))
        (gp, _) = op.backward(np.asarray(g)[None])
        tp = torch.tensor(p, requires_grad=True)
        out = torch.nn.functional.nll_loss(torch.log(tp), torch.tensor(t), reduction=reduction)
        out.backward(torch.tensor(g))
        np.testing.assert_allclose(y, out.detach().numpy(), rtol=1e-14)
        np.testing.assert_allclose(gp[0], tp.grad.numpy(), rtol=1e-13)


def test_log_of_zero_stops_the_run_at_its_step():
    with pytest.raises(NnlabError, match=r"inf appears at step 1 \(loss = cross_entropy\(p, t, logits=False\)\)"):
        run_yaml("nnlab: 1\ntitle: t\nvalues: {p: [0.0, 1.0], t: 0}\ncompute:\n"
                 "  - loss = cross_entropy(p, t, logits=False)\n")
    with pytest.raises(NnlabError, match="logits must be True or False"):
        run_yaml("nnlab: 1\ntitle: t\nvalues: {p: [0.5, 0.5], t: 0}\ncompute:\n"
                 "  - loss = cross_entropy(p, t, logits='no')\n")


def test_its_explanation_and_rule_speak_of_probabilities():
    from nnlab.scenario import loads
    from nnlab.session import session_from_scenario
    from nnlab.symbolic.rules import step_rule

    s = session_from_scenario(loads("nnlab: 1\ntitle: t\nvalues: {p: [[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]], t: [0, 2]}\n"
                                    "compute:\n  - loss = cross_entropy(p, t, logits=False)\nbackward: loss\n"))
    (_, ex), = s.explain_ref("loss")
    assert ex.arithmetic == "(−ln 0.7 + −ln 0.3) / 2"
    assert "log pₖ" in ex.formula
    rule = step_rule(s.run, s.run.steps[0])
    assert any("no softmax inside" in n for n in rule.notes)
