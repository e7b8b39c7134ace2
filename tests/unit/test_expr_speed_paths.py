"""The equation parser's quicker reading gives the trees, columns and messages it always gave.

The parser finds a node's visitor by its type and takes ast's columns as they are when the text
is ASCII. Trees, columns (characters, not bytes, for non-ASCII text), the messages of refused
syntax and how deep an expression may nest must all stay as they were.
"""

from __future__ import annotations

import sys

import pytest

from nnlab.errors import NnlabError
from nnlab.scenario import expr
from nnlab.scenario.expr import BinOp, Call, Index, Name, Num, Str


def _parse(text: str, qualified: bool = False):
    expr._PARSED.clear()
    return expr.parse_expr(text, None, qualified=qualified)


def _error(text: str) -> tuple[str, int, int, str | None]:
    with pytest.raises(NnlabError) as info:
        _parse(text)
    return info.value.message, info.value.loc.col, info.value.loc.length, info.value.hint


def test_columns_count_characters_and_the_leading_blanks() -> None:
    assert _parse("  α + β[0]") == BinOp("+", Name("α", 2, 3), Index(Name("β", 6, 7), (0,), 6, 10), 2, 10)
    assert _parse("ünï(x, k='ß') * 2") == BinOp(
        "*", Call("ünï", (Name("x", 4, 5),), (("k", Str("ß", 9, 12)),), 0, 13), Num(2, "2", 16, 17), 0, 17)
    assert _parse(" W1 @ x + b1") == BinOp("+", BinOp("@", Name("W1", 1, 3), Name("x", 6, 7), 1, 7),
                                           Name("b1", 10, 12), 1, 12)


def test_every_node_spans_its_own_text() -> None:
    for text in ("  exp(C.scores[0, 0]) / (exp(C.scores[0, 0]) + exp(C.scores[0, 1]))",
                 "tanh(P.W_in[0] @ x + P.b_in[0] + h_after.r[0] * (P.W_hn[0] @ h + P.b_hn[0]))",
                 " σ(z) * (1 - σ(z)) ** 2", "softmax(out.scores, axis=-1, mask=None)"):
        seen = []

        def walk(e, text=text, seen=seen):
            if hasattr(e, "_fields"):
                seen.append(text[e.col:e.end])
                for field in e:
                    walk(field)
            elif isinstance(e, tuple):
                for item in e:
                    walk(item)

        walk(_parse(text))
        assert seen[0] == text.strip()
        assert all(part and part == part.strip() for part in seen)
    assert _parse(" σ(z) * 2").left.args[0] == Name("z", 3, 4)


def test_refused_syntax_is_named_at_its_column() -> None:
    hint = "the equation language has numbers, names, + - * / @ **, calls and indexing."
    assert _error("lambda x: x") == ("unsupported syntax: lambda", 1, 11, hint)
    assert _error(" a < b") == ("unsupported syntax: comparison", 2, 5, hint)
    assert _error("a % b") == ("unsupported operator 'a % b'", 1, 5, "use + - * / @ or **.")
    assert _error("1j") == ("unsupported literal complex", 1, 2, None)
    assert _error("f(**k)") == ("unsupported syntax: **-arguments", 5, 1, None)
    assert _error("x.__y") == ("unsupported syntax: attribute '.__y'", 1, 5, None)
    assert _error("y + ~x")[0] == "unsupported unary operator"


def _deepest(make) -> int:
    """The most levels ``make(n)`` may nest before the parser says it is too deep."""
    lo, hi = 1, 4000
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            _parse(make(mid))
            lo = mid
        except NnlabError as exc:
            assert exc.message == "expression too deeply nested"
            hi = mid - 1
    return lo


@pytest.mark.parametrize("make", [lambda n: "-" * n + "x", lambda n: "+".join(["x"] * n),
                                  lambda n: "x" + "[0]" * n])
def test_a_nesting_level_takes_one_frame(make) -> None:
    # Minus chains of 500 (the hostile corpus) must parse as they did: one frame a level, not two
    frames = 0
    frame = sys._getframe()
    while frame is not None:
        frames, frame = frames + 1, frame.f_back
    room = sys.getrecursionlimit() - frames
    assert room - 25 <= _deepest(make) <= room  # two frames a level would give about room / 2
