"""Composites as equation templates: the named steps they expand into, and bad calls."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnlab.engine.composites import COMPOSITES, Choice, Group, composite
from nnlab.engine.graph import NodeKind, build_graph
from nnlab.errors import NnlabError
from nnlab.scenario import loads
from nnlab.scenario.expr import Call, Name, parse_expr

_rng = np.random.default_rng(3)
_P = {**{f"W_i{g}": _rng.normal(size=(3, 2)).round(2).tolist() for g in "rzn"},
      **{f"W_h{g}": _rng.normal(size=(3, 3)).round(2).tolist() for g in "rzn"}}
_B = {f"b_{s}{g}": _rng.normal(size=3).round(2).tolist() for g in "rzn" for s in "ih"}


def _graph(*lines: str, P: dict | None = None):
    values = {"x": [0.5, -1.0], "h0": [0.1, 0.2, -0.3], "W": [[1, 2], [3, 4], [5, 6]], "b": [1, 2, 3],
              "Wh": np.eye(3).tolist(), "Q": [[1, 0], [0, 1], [1, 1]], "P": P or {**_P, **_B}}
    text = "nnlab: 1\ntitle: t\nvalues: " + json.dumps(values) + "\ncompute:\n" + "".join(f"  - {l}\n" for l in lines)
    return build_graph(loads(text, "t.yaml"))


def _steps(g):
    """(id, op, inputs, text) of every named op node, in order."""
    return [(n, g.nodes[n].op.name, g.nodes[n].inputs, g.nodes[n].text) for n in g.order if g.nodes[n].named]


def test_attention_expands_into_scores_weights_and_output():
    g = _graph("C = attention(Q, Q, Q * 2, mask='causal')")
    assert _steps(g) == [
        ("C.scores", "attention_scores", ("Q", "Q"), "Q @ Q.T / √d_k"),
        ("C.weights", "softmax", ("C.scores",), "softmax(C.scores, axis=-1, mask='causal')"),
        ("C", "matmul", ("C.weights", "C#1"), "C.weights @ Q * 2"),
    ]
    assert g.nodes["C.weights"].op.params["mask"] == "causal"
    assert g.nodes["C#1"].label == "Q * 2"
    unmasked = _graph("C = attention(Q, Q, Q)").nodes["C.weights"]
    assert unmasked.text == "softmax(C.scores, axis=-1)" and unmasked.op.params["mask"] is None


@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
def test_gru_parts_and_texts(variant):
    g = _graph(f"h1 = gru_cell(x, h0, P, variant='{variant}')")
    names = [s[0] for s in _steps(g)]
    assert names == ["h1.r", "h1.z", "h1.n", "h1"]
    assert g.nodes["h1.r"].text == "σ(W_ir·x + b_ir + W_hr·h0 + b_hr)"
    assert g.nodes["h1"].text == f"z ⊙ h0 + (1 − z) ⊙ n   [{variant}]"
    # each W·x + b is one affine step
    ops = [g.nodes[n].op.name for n in g.order if n.startswith("h1.r")]
    assert ops == ["affine", "affine", "add", "sigmoid"]


def test_absent_biases_drop_out_of_the_sums():
    g = _graph("h1 = gru_cell(x, h0, P)", P=_P)
    labels = [g.nodes[n].label for n in g.order if n.startswith("h1.r")]
    assert labels == ["P.W_hr @ h0", "P.W_ir @ x + P.W_hr @ h0", "h1.r"]
    assert [g.nodes[n].op.name for n in g.order if g.nodes[n].line == 0 and "b_" in g.nodes[n].label] == []
    g = _graph("y = dense(x, W)", "z = rnn_cell(x, h0, W, Wh, b=None)")
    assert [(n, g.nodes[n].op.name) for n in g.order] == [
        ("y", "matmul"), ("z#1", "matmul"), ("z#2", "affine"), ("z", "tanh")]
    assert g.nodes["y"].text == "dense(x, W)"


@pytest.mark.parametrize("line, message, culprit", [
    ("C = attention(Q, Q, Q, mask='casual')", "unknown mask 'casual'", "attention("),
    ("C = attention(Q, Q, Q, mask=[[1, 0], [1, 1]])", "a mask of shape (2, 2) does not fit scores of shape (3, 3)",
     "attention("),
    ("C = attention(None, Q, Q)", "attention needs Q, got None", "attention("),
    ("C = attention(Q, Q)", "attention() is missing its argument 'V'", "attention(Q, Q)"),
    ("C = attention(Q, Q, Q, None, 1, 2)", "attention() takes at most 5 arguments", "attention("),
    ("h1 = gru_cell(x, h0, P, variant='reset')", "unknown GRU variant 'reset'", "'reset'"),
    ("h1 = gru_cell(x, h0, P * 2)", "the third argument of gru_cell must name a group of weights", "P * 2"),
    ("h1 = gru_cell(x, h0, PP)", "unknown group 'PP'", "PP"),
    ("h1 = gru_cell(x, h0, Q)", "unknown group 'Q'", "Q)"),
    ("y = dense(x, W, c=b)", "dense() has no argument 'c'", "b)"),
    ("y = 1 + dense(x, W)", "dense(…) must be the whole right-hand side of its line", "dense("),
])
def test_bad_calls_name_the_culprit(line, message, culprit):
    with pytest.raises(NnlabError) as info:
        _graph(line)
    assert info.value.message == message
    loc = info.value.loc
    assert loc.col == loc.source.index(culprit) + 1


def test_a_missing_member_is_named():
    with pytest.raises(NnlabError, match="group 'P' has no W_hn") as info:
        _graph("h1 = gru_cell(x, h0, P)", P={k: v for k, v in _P.items() if k != "W_hn"})
    assert info.value.hint == "gru_cell needs W_ir W_hr W_iz W_hz W_in W_hn (biases b_… are optional)."
    with pytest.raises(NnlabError) as info:
        _graph("h1 = gru_cell(x, h0, P, variant='reset_befor')")
    assert info.value.hint == "did you mean 'reset_before'?"


def test_a_new_composite_is_a_few_lines_of_equations():
    swish = composite("swish(x, beta=1)", """
        out.gate = sigmoid(beta * x)
        out = x * out.gate               # {x} ⊙ σ({beta}·{x})
        """)
    call = parse_expr("swish(z, beta=2)")
    assert isinstance(call, Call)
    args = {"x": call.args[0], "beta": call.kwargs[0][1]}
    parts = swish.expand("s", args, {}, set(), "swish(z, beta=2)", 4, 20)
    assert [(p.name, p.text) for p in parts] == [("s.gate", "sigmoid(2 * z)"), ("s", "z ⊙ σ(2·z)")]
    assert parts[1].expr.right == Name("s.gate", 4, 20)


def test_templates_are_checked_when_defined():
    with pytest.raises(ValueError, match="uses 'y'"):
        composite("f(x)", "out = x + y")
    with pytest.raises(ValueError, match="last line must assign out"):
        composite("f(x)", "out.a = x + 1")
    with pytest.raises(ValueError, match="uses 'P.W_q'"):
        composite("f(x, P)", "out = P.W_q @ x", group=Group("P", ("W_k",)))


def test_every_composite_is_documented_and_choices_are_literals():
    docs = (Path(__file__).parents[3] / "docs" / "scenario-format.md").read_text()
    for name, comp in COMPOSITES.items():
        assert f"`{name}(" in docs, name
        for key, choice in comp.choices.items():
            assert isinstance(choice, Choice) and key in comp.params


def test_node_kinds_and_visible_names():
    g = _graph("y = 2 * W @ x", "C = attention(Q, Q, Q)")
    assert g.nodes["x"].kind is NodeKind.VALUE and g.nodes["x"].kind == "value"
    assert g.nodes["const:2"].kind is NodeKind.CONST and not g.nodes["const:2"].visible
    assert g.nodes["y#1"].is_temp and not g.nodes["y#1"].visible
    assert g.nodes["C.scores"].visible and not g.nodes["C.scores"].is_temp
    names = g.names()
    assert {"x", "W", "b", "y", "C.scores", "C.weights", "C", "P.W_ir"} <= set(names)
    assert not any("#" in n or n.startswith("const:") for n in names)
    assert json.dumps({"kind": g.nodes["y"].kind}) == '{"kind": "op"}'
