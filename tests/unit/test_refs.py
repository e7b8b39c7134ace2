"""The one reference parser: every form, and the errors for malformed ones."""

import pytest

from nnlab.errors import NnlabError
from nnlab.scenario.expr import parse_expr
from nnlab.scenario.refs import Ref, RefKind, Snapshot, atom, parse_ref


@pytest.mark.parametrize("text, ref", [
    ("z1", Ref(RefKind.VALUE, "z1")),
    ("W1[0, 1]", Ref(RefKind.VALUE, "W1", (0, 1))),
    ("P.W_ir[1, 0]", Ref(RefKind.VALUE, "P.W_ir", (1, 0))),
    ("grad(W1)[0, 0]", Ref(RefKind.GRAD, "W1", (0, 0))),
    ("grad(loss)", Ref(RefKind.GRAD, "loss")),
    ("shape(Y)", Ref(RefKind.SHAPE, "Y")),
    ("size(Y)", Ref(RefKind.SIZE, "Y")),
    ("params", Ref(RefKind.PARAMS, "params")),
    ("train.converged", Ref(RefKind.TRAIN, "train.converged")),
    ("epoch(2).w", Ref(RefKind.VALUE, "w", (), Snapshot("epoch", 2))),
    ("epoch(2).w[1]", Ref(RefKind.VALUE, "w", (1,), Snapshot("epoch", 2))),
    ("update(5).grad(W1)[0, 1]", Ref(RefKind.GRAD, "W1", (0, 1), Snapshot("update", 5))),
    ("update(0).yhat[3]", Ref(RefKind.VALUE, "yhat", (3,), Snapshot("update", 0))),
])
def test_every_form_reads_to_a_typed_reference(text, ref):
    assert parse_ref(text) == ref
    assert str(parse_ref(text)) == text  # and prints back as written


def test_a_slice_is_kept_and_is_not_one_element():
    ref = parse_ref("Y[0, :]")
    assert ref.index == (0, slice(None, None, None))
    assert not ref.is_element and parse_ref("Y[0, 1]").is_element


@pytest.mark.parametrize("text", ["a + b", "mean(loss)", "sigmoid(2) - 1", "3"])
def test_expressions_that_compute_are_not_references(text):
    assert atom(parse_expr(text)) is None
    with pytest.raises(NnlabError, match="is not a reference"):
        parse_ref(text)


@pytest.mark.parametrize("text, message", [
    ("grad(1)", "grad() takes one name"),
    ("shape(a, b)", "shape() takes one name"),
    ("epoch(x).w", "expected one prefix"),
    ("epoch(1.5).w", "expected one prefix"),
    ("epoch(1, 2).w", "expected one prefix"),
])
def test_malformed_references_say_what_is_expected(text, message):
    with pytest.raises(NnlabError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_ref(text)


def test_training_prefixes_can_be_refused():
    with pytest.raises(NnlabError):
        parse_ref("epoch(2).w", qualified=False)
