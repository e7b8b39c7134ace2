"""explain on references that have no element to explain: clean errors, not tracebacks."""

import pytest

from nnlab.errors import NnlabError
from nnlab.session import open_session

SCENARIO = "scenarios/softmax-cross-entropy.yaml"


def test_a_class_index_gets_no_gradient_and_says_so():
    session = open_session(SCENARIO)
    with pytest.raises(NnlabError, match="no gradient flows into y: cross_entropy treats it as a label"):
        session.explain_ref("grad(y)")


def test_the_index_hint_has_as_many_indices_as_the_shape():
    session = open_session(SCENARIO)
    with pytest.raises(NnlabError) as info:
        session.explain_ref("grad(t)")
    assert info.value.hint == "e.g. [0]."


def test_a_logit_gradient_is_p_minus_onehot():
    session = open_session(SCENARIO)
    [(step, ex)] = [pair for pair in session.explain_ref("grad(f)[0]") if pair[1].value != 0][:1]
    p0 = float(session.run.value("p")[0])
    assert float(ex.value) == pytest.approx(p0 - 1, abs=1e-12)
