"""References: the one reading of ``NAME[i]``, ``grad(NAME)``, ``epoch(k).…`` and ``train.*``.

A reference names something a run computed. ``check`` evaluates expressions built
from references (``grad(z) - (sigmoid(2) - 1)``), ``explain``, the symbolic chain and
the lab each need one element. All of them read references here, from the syntax
tree of :mod:`nnlab.scenario.expr`, so a form means the same thing everywhere:

==========================  ============  =========================================
written                     kind          meaning
==========================  ============  =========================================
``z1``, ``W1[0, 1]``        VALUE         a node's value (an element of it)
``grad(W1)[0, 0]``          GRAD          ∂target/∂W1 (an element of it)
``shape(Y)``, ``size(Y)``   SHAPE, SIZE   a node's shape / number of elements
``params``                  PARAMS        the number of learnable parameters
``train.converged``         TRAIN         a fact about a training run
``epoch(2).w``              + ``at``      the same, with the parameters after epoch 2
``update(5).grad(w)[0]``    + ``at``      … after the 5th update (``update(0)``: the start)
==========================  ============  =========================================

Whether the name exists, and what an index means for a node with one row per
example, is the run's business (:mod:`nnlab.session`); this module only reads.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from nnlab.errors import Location, NnlabError
from nnlab.scenario.expr import Attr, Call, Expr, Index, Name, Num, key_text, parse_expr, to_text

REF_FUNCS = ("grad", "shape", "size")
"""Functions that name something of a node rather than compute."""
PREFIXES = ("epoch", "update")
"""``epoch(k).`` and ``update(k).``: which parameters of a training a reference means."""


class RefKind(StrEnum):
    """What a reference names."""

    VALUE = "value"
    GRAD = "grad"
    SHAPE = "shape"
    SIZE = "size"
    PARAMS = "params"
    TRAIN = "train"


# NamedTuples rather than dataclasses: defining a dataclass costs ~0.4 ms of nnlab check's start-up.
class Snapshot(NamedTuple):
    """A training prefix: ``epoch(k).`` or ``update(k).``.

    Attributes:
        unit: ``"epoch"`` or ``"update"``.
        k: The epoch (after it) or the number of updates made.
    """

    unit: str
    k: int

    def __str__(self) -> str:
        return f"{self.unit}({self.k})"


class Ref(NamedTuple):
    """A parsed reference.

    Attributes:
        kind: What it names.
        name: The node (or ``train.*`` fact) it names; ``"params"`` for PARAMS.
        index: The element, as written (ints and slices); empty for the whole tensor.
        at: The training snapshot it is evaluated at, if a prefix was written.
    """

    kind: RefKind
    name: str
    index: tuple[int | slice, ...] = ()
    at: Snapshot | None = None

    @property
    def is_element(self) -> bool:
        """True if the index picks single elements (no slices)."""
        return all(isinstance(i, int) for i in self.index)

    @property
    def plain(self) -> str:
        """The reference without its training prefix, as nnlab writes it."""
        head = self.name if self.kind in (RefKind.VALUE, RefKind.TRAIN, RefKind.PARAMS) \
            else f"{self.kind}({self.name})"
        return head + (f"[{', '.join(key_text(i) for i in self.index)}]" if self.index else "")

    def __str__(self) -> str:
        return f"{self.at}.{self.plain}" if self.at else self.plain


class RefError(Exception):
    """A malformed reference; ``node`` is the part of the syntax tree to point at."""

    def __init__(self, message: str, node: Expr, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.node, self.hint = message, node, hint


def snapshot_of(prefix: Expr) -> Snapshot:
    """Read a training prefix ``epoch(k)`` / ``update(k)``.

    Raises:
        RefError: Anything else (``epoch(x)``, ``epoch(1, 2)``, ``foo(1)``).
    """
    if not (isinstance(prefix, Call) and prefix.func in PREFIXES and len(prefix.args) == 1
            and not prefix.kwargs and isinstance(prefix.args[0], Num) and isinstance(prefix.args[0].value, int)
            and prefix.target is None):
        raise RefError("expected one prefix, epoch(k). or update(k).", prefix)
    return Snapshot(prefix.func, prefix.args[0].value)


def split_prefix(e: Expr) -> tuple[Call | None, Expr]:
    """``epoch(2).w`` → ``(epoch(2), w)``; an unprefixed expression → ``(None, e)``."""
    if isinstance(e, Attr) and isinstance(e.value, Call):
        return e.value, Name(e.name, e.col, e.end)
    if isinstance(e, Call) and e.target is not None:
        return e.target, e._replace(target=None)
    return None, e


def atom(e: Expr) -> Ref | None:
    """The reference ``e`` is, or None if ``e`` computes (arithmetic, an op, a literal).

    Raises:
        RefError: A malformed reference (``grad(1)``, ``epoch(x).w``).
    """
    index: tuple = ()
    if isinstance(e, Index):
        index, e = tuple(e.key), e.value
    prefix, inner = split_prefix(e)
    at = snapshot_of(prefix) if prefix is not None else None
    ref = _bare(inner)
    if ref is None:
        return None
    return Ref(ref.kind, ref.name, index, at)


def _bare(e: Expr) -> Ref | None:
    if isinstance(e, Name):
        if e.id == "params":
            return Ref(RefKind.PARAMS, "params")
        if e.id.startswith("train."):
            return Ref(RefKind.TRAIN, e.id)
        return Ref(RefKind.VALUE, e.id)
    if isinstance(e, Call) and e.target is None and e.func in REF_FUNCS:
        if len(e.args) != 1 or not isinstance(e.args[0], Name):
            raise RefError(f"{e.func}() takes one name, e.g. {e.func}(W1)", e)
        return Ref(RefKind(e.func), e.args[0].id)
    return None


def parse_ref(text: str, loc: Location | None = None, *, qualified: bool = True) -> Ref:
    """Parse one reference (not an expression of several).

    Args:
        text: ``"grad(W1)[0, 1]"``, ``"epoch(2).w"``…
        loc: Where ``text`` is written, for error positions.
        qualified: Accept training prefixes.

    Raises:
        NnlabError: Unreadable text, or an expression that computes rather than names.
    """
    expr = parse_expr(text, loc, qualified=qualified)
    try:
        ref = atom(expr)
    except RefError as exc:
        raise NnlabError(exc.message, _at(loc, exc.node), exc.hint, kind="reference") from None
    if ref is None:
        raise NnlabError(f"'{to_text(expr)}' is not a reference", _at(loc, expr),
                         "write NAME, NAME[i, j] or grad(NAME)[i, j].", kind="reference")
    return ref


def _at(loc: Location | None, node: Expr) -> Location | None:
    return loc.shifted(node.col, max(1, node.end - node.col)) if loc else None


__all__ = ["PREFIXES", "REF_FUNCS", "Ref", "RefError", "RefKind", "Snapshot", "atom", "parse_ref",
           "snapshot_of", "split_prefix"]
