"""A weight group's members: a member no line reads, named like one the cell reads, is a typo."""

from __future__ import annotations

import pytest

from nnlab.errors import NnlabError
from nnlab.scenario import loads
from nnlab.session import session_from_scenario

LSTM = """nnlab: 1
title: lstm
values:
  x: [1.0, 2.0]
  h: [0.5]
  c: [0.1]
  P:
    W_ii: [[0.1, 0.2]]
    W_hi: [[0.3]]
    W_if: [[0.1, 0.2]]
    W_hf: [[0.3]]
    W_ig: [[0.1, 0.2]]
    W_hg: [[0.3]]
    W_io: [[0.1, 0.2]]
    W_ho: [[0.3]]
    EXTRA: [0.5]
compute:
  - S = lstm_cell(x, h, c, P)
"""


def test_a_bias_named_as_in_the_lecture_is_refused_with_the_pytorch_names():
    with pytest.raises(NnlabError) as info:
        session_from_scenario(loads(LSTM.replace("EXTRA", "b_i"), "t.yaml"))
    err = info.value
    assert err.message == "group 'P' has b_i, which lstm_cell does not read"
    assert err.hint.startswith("did you mean b_if, b_ig, b_ii or b_io?")
    assert (err.loc.line, err.loc.col) == (18, 28)  # the group argument of the call


def test_a_member_another_line_reads_is_fine():
    text = LSTM.replace("EXTRA", "W_y") + "  - y = P.W_y * S\n"
    session = session_from_scenario(loads(text, "t.yaml"))
    assert session.run.value("y").shape == (1,)


def test_a_member_unlike_any_the_cell_reads_is_left_alone():
    session = session_from_scenario(loads(LSTM.replace("EXTRA", "notes"), "t.yaml"))
    assert session.run.has("S")


def test_gru_too():
    text = LSTM.replace("lstm_cell(x, h, c, P)", "gru_cell(x, h, P)").replace("EXTRA", "b_r")
    for a, b in (("W_ii", "W_ir"), ("W_hi", "W_hr"), ("W_if", "W_iz"), ("W_hf", "W_hz"), ("W_ig", "W_in"),
                 ("W_hg", "W_hn")):
        text = text.replace(a, b)
    text = text.replace("    W_io: [[0.1, 0.2]]\n    W_ho: [[0.3]]\n", "")
    with pytest.raises(NnlabError, match="group 'P' has b_r, which gru_cell does not read"):
        session_from_scenario(loads(text, "t.yaml"))
