"""Judging one typed prediction in practice mode, the way ``check`` judges an ``expect:`` answer.

The typed text is read as an answer is (:func:`nnlab.scenario.model.answer_from_text`):
what the user wrote decides the precision. A wrong value that can be named as an
element of the scenario (``z1[0]``, ``grad(W1)[0, 1]``, ``shape(Y)``) is diagnosed
through :meth:`Session.check <nnlab.session.Session.check>`, so a prediction gets the
same "why" as an answer in the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nnlab.check import compare
from nnlab.errors import Location, NnlabError


@dataclass(frozen=True)
class Verdict:
    """The judgement of one prediction.

    Attributes:
        ok: Whether it matches the value within the written precision.
        why: The diagnosis as ``(id, message)`` (``("sign-flipped", "…")``), most likely first; empty
            when right or unexplained. ``carried-error`` means the value is right for the user's
            own earlier (wrong) answers.
        tolerance: The tolerance used, as words.
    """

    ok: bool
    why: tuple[str, ...] = ()
    tolerance: str = ""


def judge(session: Any, value: Any, text: str, ref: str | None = None, shape: bool = False,
          earlier: tuple[tuple[str, str], ...] = ()) -> Verdict:
    """Judge ``text`` as a prediction of ``value``.

    Args:
        session: The scenario's session (expressions in the answer are evaluated against it).
        value: The true value (a number, an array, or a shape tuple).
        text: What the user typed (``0.73``, ``-0.25``, ``σ(2) − 1``, ``5x7``).
        ref: The reference naming the value in the scenario, if it has one (enables the diagnosis).
        shape: The question is a shape.
        earlier: ``(ref, text)`` of the user's earlier answers (follow-through: a value right for
            their own wrong earlier answers says so).

    Raises:
        NnlabError: The text cannot be read as an answer (said at once, not counted as a try).
    """
    from nnlab.scenario.model import answer_from_text

    key = f"shape({ref or 'x'})" if shape else (ref or "x")
    answer, _raw, tol = answer_from_text(text, key, Location("<your answer>", 1, 1, text, len(text)))
    if not isinstance(answer, int | float | np.ndarray):  # an expression such as σ(2) − 1
        answer = session.evaluate(text)
    truth = np.asarray(value, dtype=float)
    ok = compare(truth, answer, tol, 0.0)
    words = "exact" if not np.any(np.asarray(tol)) else f"±{float(np.max(tol)):g} (as written)"
    if ok or ref is None:
        return Verdict(ok, (), words)
    item = _checked(session, key, text, earlier)
    if item is not None and item.ok:  # right for the user's own (rounded) earlier answers
        return Verdict(True, (), f"{words}; right for your own {', '.join(item.via)}")
    return Verdict(False, () if item is None else tuple((f.id, f.message) for f in item.diagnosis), words)


def _entry(session: Any, ref: str, text: str) -> Any:
    from nnlab.scenario.expr import parse_expr
    from nnlab.scenario.model import ExpectEntry, answer_from_text

    loc = Location("<your answer>", 1, 1, text, len(text))
    answer, raw, tol = answer_from_text(text, ref, loc)
    return ExpectEntry(ref, parse_expr(ref, loc, qualified=session.training is not None), answer, raw, tol,
                       0.0, loc, loc)


def _checked(session: Any, ref: str, text: str, earlier: tuple[tuple[str, str], ...]) -> Any:
    """The answer checked together with the earlier ones and diagnosed (None when it cannot be named)."""
    try:
        entries = [_entry(session, r, t) for r, t in earlier if r != ref] + [_entry(session, ref, text)]
        return session.check(tuple(entries)).items[-1]
    except NnlabError:
        return None
