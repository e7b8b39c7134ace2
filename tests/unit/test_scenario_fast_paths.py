"""The loader's shortcuts give exactly what the long way gives.

Expressions are kept by text, plain names skip ``ast``, Fractions and written tolerances are
kept by their digits, key locations are made when asked for, and libyaml's plain scalars take
the same fast path as PyYAML's: none of that may change a value, a location or a message.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from nnlab.errors import NnlabError
from nnlab.scenario import expr
from nnlab.scenario.model import loads, written_tolerance
from nnlab.scenario.yamlsrc import load_yaml

NAMES = ["loss", "yhat", "W1", "e", "x_2", "_a", "__a", "True", "true", "false", "None", "not", "lambda",
         "match", "case", "type", "_", "  loss ", "\tz\t", "ünï", "ﬁ", "async", "await", "nonlocal", "A1b"]


def _long_way(text: str, qualified: bool):
    try:
        return expr._Parser(text, None, qualified).parse()
    except NnlabError as exc:
        return ("error", exc.message, exc.loc)


@pytest.mark.parametrize("text", NAMES)
@pytest.mark.parametrize("qualified", [False, True])
def test_a_name_parses_as_the_parser_reads_it(text: str, qualified: bool) -> None:
    expr._PARSED.clear()
    try:
        got = expr.parse_expr(text, None, qualified=qualified)
    except NnlabError as exc:
        got = ("error", exc.message, exc.loc)
    want = _long_way(text, qualified)
    assert got == want
    assert type(got) is type(want)


def test_a_kept_expression_is_the_same_tree_and_an_error_is_never_kept() -> None:
    expr._PARSED.clear()
    first = expr.parse_expr("grad(W1)[0, 1]", qualified=True)
    assert expr.parse_expr("grad(W1)[0, 1]", qualified=True) is first
    assert expr.parse_expr("grad(W1)[0, 1]") == _long_way("grad(W1)[0, 1]", False)
    for _ in range(2):  # the second time is located again, at its own place
        with pytest.raises(NnlabError) as err:
            expr.parse_expr("a + lambda: 1")
        assert err.value.loc.col == 5


def test_fractions_and_tolerances_kept_by_their_digits() -> None:
    text = "nnlab: 1\ntitle: t\nvalues:\n  a: [0.1, 0.1, 1_000, 2.50]\n  b: 0.1\ncompute:\n  - y = a * b\n"
    for _ in range(2):
        s = loads(text)
        assert s.values["a"].exact.tolist() == [Fraction(1, 10), Fraction(1, 10), 1000, Fraction(5, 2)]
        assert s.values["b"].exact.item() == Fraction(1, 10)
    assert [written_tolerance(r) for r in ("0.12", "19", "2.50", "0.12")] == [0.005, 0.0, 0.005, 0.005]


def test_key_locations_made_late_are_the_same_and_duplicates_name_the_first_line() -> None:
    text = "a: 1\nbb:\n  c: [1, 2]\n  dd: x\n"
    for pure in (False, True):
        root = load_yaml(text, "f.yaml", pure=pure)
        locs = root.key_locs
        assert (locs["a"].line, locs["a"].col, locs["a"].length) == (1, 1, 1)
        assert (locs["bb"].line, locs["bb"].col, locs["bb"].length) == (2, 1, 2)
        inner = root.value["bb"].key_locs["dd"]
        assert (inner.line, inner.col, inner.source) == (4, 3, "  dd: x")
        assert root.value["bb"].value["c"].value[1].loc.col == 10
        with pytest.raises(NnlabError) as err:
            load_yaml("a: 1\nb: 2\na: 3\n", "f.yaml", pure=pure)
        assert (err.value.loc.line, err.value.hint) == (3, "'a' is already defined on line 1; keep one.")


def test_plain_scalars_read_alike_from_both_parsers() -> None:
    text = "x: [1, -2.5, 1e-3, 1_000, true, null, .inf, abc, '7']\ny: 0.5\n"
    trees = [load_yaml(text, pure=pure) for pure in (False, True)]
    rows = [[(n.value, n.raw, n.quoted, n.loc) for n in t.value["x"].value] for t in trees]
    assert rows[0] == rows[1]
    assert [v for v, *_ in rows[0][:4]] == [1, -2.5, 0.001, 1000]
    assert rows[0][8][:3] == ("7", "7", True)
