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
        why: The diagnosis ids (``"sign-flipped"``), most likely first; empty when right or unexplained.
        tolerance: The tolerance used, as words.
    """

    ok: bool
    why: tuple[str, ...] = ()
    tolerance: str = ""


def judge(session: Any, value: Any, text: str, ref: str | None = None, shape: bool = False) -> Verdict:
    """Judge ``text`` as a prediction of ``value``.

    Args:
        session: The scenario's session (expressions in the answer are evaluated against it).
        value: The true value (a number, an array, or a shape tuple).
        text: What the user typed (``0.73``, ``-0.25``, ``σ(2) − 1``, ``5x7``).
        ref: The reference naming the value in the scenario, if it has one (enables the diagnosis).
        shape: The question is a shape.

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
    return Verdict(False, _why(session, key, text), words)


def _why(session: Any, ref: str, text: str) -> tuple[str, ...]:
    """The misconception catalog's reading of a wrong prediction (empty when nothing reproduces it)."""
    from nnlab.scenario.model import ExpectEntry, answer_from_text
    from nnlab.scenario.expr import parse_expr

    try:
        loc = Location("<your answer>", 1, 1, text, len(text))
        answer, raw, tol = answer_from_text(text, ref, loc)
        entry = ExpectEntry(ref, parse_expr(ref, loc, qualified=session.training is not None), answer, raw, tol,
                            0.0, loc, loc)
        item = session.check((entry,)).items[0]
    except NnlabError:
        return ()
    return tuple(f.id for f in item.diagnosis)
