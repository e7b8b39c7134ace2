"""Scenario format v1: load a YAML file into a validated, immutable :class:`Scenario`.

The keys (``nnlab``, ``title``, ``topic``, ``about``, ``values``, ``data``, ``learn``,
``compute``, ``backward``, ``train``, ``options``, ``expect``, ``tolerance``) are a
contract: other tools and tests rely on them. Unknown keys are errors with a
"did you mean" hint. Every value keeps its exact decimal form (``0.1`` → 1/10) beside
its float64 array, so training can compute the way a student does by hand.
"""

from __future__ import annotations

import math
import os
import sys
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np

from nnlab import limits
from nnlab.errors import Location, NnlabError, did_you_mean
from nnlab.numfmt import as_float
from nnlab.scenario.expr import (BinOp, Bool, Call, Equation, Expr, Index, ListLit, Name, Neg, NoneLit, Num, Str,
                                 parse_answer, parse_equation, parse_expr)
from nnlab.scenario.yamlsrc import YNode, load_yaml

FORMAT_VERSION = 1
TOP_KEYS = ("nnlab", "title", "topic", "about", "solution", "values", "data", "learn", "compute", "backward",
            "train", "options", "expect", "tolerance")
OPTION_KEYS = {"step_at_zero": "value of step(0) (default 0)",
               "sign_at_zero": "value of sign(0) (default 0)",
               "arithmetic": "'auto' (exact decimals when possible), 'exact' or 'float'",
               "max_elements": f"the largest tensor, in elements (default {limits.DEFAULT_MAX_ELEMENTS:,})",
               "max_updates": f"the most parameter updates a training may make (default {limits.DEFAULT_MAX_UPDATES:,})"}
SPEC_KEYS = ("shape", "init", "seed", "scale")
INITS = ("zeros", "ones", "range", "normal", "uniform")
DEFAULT_MAX_ELEMENTS = limits.DEFAULT_MAX_ELEMENTS
EXACT_MAX = 20_000  # keep exact Fractions only for tensors a student could compute by hand
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# The records here are NamedTuples, not frozen dataclasses: a dataclass costs nnlab check about
# half a millisecond to define. Change one with ``record._replace(field=…)``.
class ValueDef(NamedTuple):
    """A named tensor from ``values`` or ``data``.

    Attributes:
        name: Full name (``"W1"``, ``"P.W_ir"``).
        array: float64 array, or int64 when every entry is a whole-number literal.
        exact: The same numbers as Fractions (object array) when written as decimal
            literals; None for random inits.
        loc: Where it is defined.
    """

    name: str
    array: np.ndarray
    exact: np.ndarray | None
    loc: Location


class ExpectEntry(NamedTuple):
    """One ``expect`` line: a reference and the user's answer.

    Attributes:
        ref: The reference text (``"grad(W1)[0, 1]"``).
        expr: The parsed reference.
        answer: The answer as written: a number, bool, nested list, or an
            :class:`Expr` for a quoted expression (``'sigmoid(2) - 1'``).
        raw: The answer's text as written (numbers) — decides the default tolerance.
        abs_tol: Absolute tolerance per element (array or float), from the written
            digits unless overridden.
        rel_tol: Relative tolerance.
        loc: Where the reference key is written.
        answer_loc: Where the answer is written.
    """

    ref: str
    expr: Expr
    answer: Any
    raw: Any
    abs_tol: Any
    rel_tol: float
    loc: Location
    answer_loc: Location
    explicit_tol: bool = False


ERROR_KINDS = {"shape": ("shape",), "domain": ("nan",)}
"""``expect: {error: KIND}`` → the :class:`NnlabError` kinds that count as that failure: ``shape``
(shapes that do not fit), ``domain`` (a NaN or infinity appears: log of a non-positive number,
sqrt of a negative, division by zero, overflow)."""


class ExpectedError(NamedTuple):
    """``expect: {error: shape}``: the scenario is meant to fail, with this kind of error.

    Attributes:
        kind: ``"shape"`` or ``"domain"`` (see :data:`ERROR_KINDS`).
        position: Its place among the ``expect`` entries (the check lists it there).
        loc: Where ``error`` is written.
        answer_loc: Where the kind is written.
    """

    kind: str
    position: int
    loc: Location
    answer_loc: Location


class Scenario(NamedTuple):
    """A loaded, validated scenario (format v1)."""

    path: str
    text: str
    title: str
    topic: str
    about: str
    values: dict[str, ValueDef]
    data: dict[str, ValueDef]
    learn: tuple[str, ...]
    equations: tuple[Equation, ...]
    backward: str | None
    backward_loc: Location | None
    options: dict[str, Any]
    expect: tuple[ExpectEntry, ...]
    train: dict[str, Any] | None
    train_node: YNode | None = None
    root: YNode | None = None  # the parsed file, positions included
    max_elements: int = DEFAULT_MAX_ELEMENTS
    expect_error: ExpectedError | None = None
    """``expect: {error: shape|domain}``: the run is meant to fail with that kind of error."""
    solution: str = ""
    """The worked answer (Markdown), kept apart from ``about`` so a quiz does not give itself away:
    shown only when the user asks to see the answers."""
    shape_only: bool = False
    """Loaded for shapes only (every ``expect`` reference is ``shape``/``size``/``params``): specs are
    zero-memory stand-ins of the right shape, and the element and memory limits do not apply."""

    def loc_of(self, *path: str) -> Location | None:
        """Location of a key path such as ``("values", "W1")``."""
        node = self.root
        loc = None
        for key in path:
            if node is None or node.kind != "map" or key not in node.value:
                return loc
            loc = node.key_locs[key]
            node = node.value[key]
        return loc


# ------------------------------------------------------------------------- loading


def load(path: str | os.PathLike[str], *, max_elements: int | None = None, shapes_only: bool = False,
         shapes_fallback: bool = False) -> Scenario:
    """Read and validate a scenario file.

    Args:
        path: The file.
        max_elements: The largest tensor in elements; None: the file's
            ``options.max_elements``, else :data:`DEFAULT_MAX_ELEMENTS`.
        shapes_only: If every ``expect`` reference asks only for shapes, sizes or ``params``
            (:func:`is_shape_question`), make no tensor from a spec (``{shape: …, init: …}``):
            a zero-memory stand-in of its shape takes its place, and neither the element limit
            nor the memory budget applies (:attr:`Scenario.shape_only`).
        shapes_fallback: The same for a shape question only when a value would be refused
            (over the element limit or the memory budget), read from the same parse; any
            other file keeps that error.

    Raises:
        NnlabError: With file, line and column for anything wrong.
    """
    # os.path rather than pathlib, which costs nnlab check 3 ms of start-up (urllib.parse, ipaddress)
    try:
        if os.path.exists(path) and not (os.path.isfile(path) or os.path.isdir(path)):  # a FIFO would block
            raise NnlabError(f"{path} is not a regular file (a pipe or a device), not a scenario file",
                             Location(str(path)), kind="file")
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise NnlabError(f"no such file: {path}", Location(str(path)), kind="file") from None
    except IsADirectoryError:
        raise NnlabError(f"{path} is a directory, not a scenario file", Location(str(path)), kind="file") from None
    except UnicodeDecodeError:
        raise NnlabError(f"{path} is not UTF-8 text", Location(str(path)), kind="file") from None
    except OSError as exc:
        raise NnlabError(f"cannot read {path}: {exc.strerror}", Location(str(path)), kind="file") from None
    return loads(text, str(path), max_elements=max_elements, shapes_only=shapes_only,
                 shapes_fallback=shapes_fallback)


def loads(text: str, file: str = "<string>", *, max_elements: int | None = None,
          shapes_only: bool = False, shapes_fallback: bool = False) -> Scenario:
    """Validate scenario text (see :func:`load`)."""
    root = load_yaml(text, file, max_values=max_elements or DEFAULT_MAX_ELEMENTS)
    if root.kind != "map":
        raise NnlabError("a scenario must be a YAML mapping (key: value lines)", root.loc,
                         "start with `nnlab: 1` and `title: …`.", kind="format")
    for key in root.value:  # (a key's location is made only for an error)
        if key not in TOP_KEYS:
            raise NnlabError(f"unknown key '{key}'", root.key_locs[key].shifted(0, len(key)),
                             did_you_mean(key, TOP_KEYS) or f"the keys are: {', '.join(TOP_KEYS)}.",
                             kind="format")
    _require(root, "nnlab", file)
    version = root.value["nnlab"]
    if version.value != FORMAT_VERSION:
        raise NnlabError(f"unsupported format version {version.raw!r}", version.loc,
                         f"this nnlab reads `nnlab: {FORMAT_VERSION}`.", kind="format")
    title = _string(root, "title", file, required=True)
    if "\n" in title.strip():
        raise NnlabError("title must be one line", root.value["title"].loc, kind="format")
    topic = _string(root, "topic", file)
    about = _string(root, "about", file)
    solution = _string(root, "solution", file)

    options = _options(root.get("options"))
    if max_elements is None:
        max_elements = options.get("max_elements", DEFAULT_MAX_ELEMENTS)
    # A shape question may be answered from shapes; its expect block is read now (an error in it
    # waits for its turn below)
    early = _early_expect(root) if shapes_only or shapes_fallback else None
    lazy = early is not None and early[1] is None and is_shape_question(early[0])
    values, data, refused = _tensors(root, file, max_elements, lazy)
    if lazy and not shapes_only and not refused:
        # shapes_fallback reads a shape question for shapes first (cheap), so that a file too large
        # to compute makes none of its values before one is refused; this one fits: make them
        lazy = False
        values, data, _ = _tensors(root, file, max_elements, lazy)
    clash = set(values) & set(data)
    if clash:
        name = sorted(clash)[0]
        raise NnlabError(f"'{name}' is defined in both values and data", root.value["data"].loc,
                         kind="name")
    learn = _learn(root.get("learn"), values, data)
    _require(root, "compute", file)
    equations = _compute(root.value["compute"])
    backward, backward_loc = None, None
    if "backward" in root.value:
        node = root.value["backward"]
        if node.kind != "scalar" or not isinstance(node.value, str):
            raise NnlabError("backward must name one node, e.g. `backward: loss`", node.loc, kind="format")
        backward, backward_loc = node.value.strip(), node.loc
    tolerance = _tolerance(root.get("tolerance"))
    expect, expect_error = early if early is not None else _expect(root.get("expect"), tolerance)
    train_node = root.get("train")
    train = train_node.to_py() if train_node is not None else None
    if train is not None and not isinstance(train, dict):
        raise NnlabError("train must be a mapping (rule:, lr:, epochs: …)", train_node.loc, kind="format")
    return Scenario(file, text, title.strip(), topic.strip(), about, values, data, learn, equations,
                    backward, backward_loc, options, expect, train, train_node, root,
                    sys.maxsize if lazy else max_elements, expect_error, solution, lazy)


def _tensors(root: YNode, file: str, max_elements: int, lazy: bool) -> tuple[dict, dict, bool]:
    """The ``values`` and the ``data``, made within one memory budget, and (for a ``lazy`` read)
    whether a full read would have refused one of them for its size (see :class:`_Budget`)."""
    budget = _Budget(limits.memory_budget())
    values = _values(root.get("values"), file, max_elements, data=False, budget=budget, lazy=lazy)
    data = _values(root.get("data"), file, max_elements, data=True, budget=budget, lazy=lazy)
    return values, data, budget.refused


def _early_expect(root: YNode) -> tuple[tuple[ExpectEntry, ...], ExpectedError | None] | None:
    """The ``expect`` block read ahead of its turn, for :func:`is_shape_question`; None if there is
    training (never a shape question) or an error (reported later, in its usual place)."""
    if "train" in root.value:
        return None
    try:
        return _expect(root.get("expect"), _tolerance(root.get("tolerance")))
    except NnlabError:
        return None


def is_shape_question(entries: tuple[ExpectEntry, ...]) -> bool:
    """True if there are entries and every reference in them (and in quoted answers) is ``shape(…)``,
    ``size(…)`` or ``params``, combined by arithmetic and ops: answering needs shapes, never a value."""
    return bool(entries) and all(_shapes_only(e.expr) and (not isinstance(e.answer, Expr.__args__)
                                                           or _shapes_only(e.answer)) for e in entries)


def _shapes_only(e: Expr) -> bool:
    if isinstance(e, (Num, Str, Bool, NoneLit)):
        return True
    if isinstance(e, Name):
        return e.id == "params"
    if isinstance(e, Call):
        if e.target is not None or e.func in ("grad", "epoch", "update", "velocity"):
            return False
        if e.func in ("shape", "size"):
            return True
        return all(_shapes_only(a) for a in e.args) and all(_shapes_only(v) for _, v in e.kwargs)
    if isinstance(e, BinOp):
        return _shapes_only(e.left) and _shapes_only(e.right)
    if isinstance(e, Neg):
        return _shapes_only(e.operand)
    if isinstance(e, Index):
        return _shapes_only(e.value)
    if isinstance(e, ListLit):
        return all(_shapes_only(i) for i in e.items)
    return False  # Attr: a training prefix


def _require(root: YNode, key: str, file: str) -> None:
    if key not in root.value:
        raise NnlabError(f"missing required key '{key}'", Location(file, 1, 1, root.loc.source),
                         {"nnlab": "add `nnlab: 1` as the first line.",
                          "title": "add a one-line `title: …`.",
                          "compute": "add `compute:` with a list of `name = expression` lines."}.get(key),
                         kind="format")


def _string(root: YNode, key: str, file: str, required: bool = False) -> str:
    if key not in root.value:
        if required:
            _require(root, key, file)
        return ""
    node = root.value[key]
    if node.kind != "scalar" or node.value is None:
        raise NnlabError(f"{key} must be text", node.loc, kind="format")
    return str(node.raw if not isinstance(node.value, str) else node.value)


# -------------------------------------------------------------------------- values


class _Budget:
    """Bytes the values still may take (see :func:`nnlab.limits.memory_budget`).

    A lazy read (shape stand-ins, no spec's tensor made) also counts what a full read would
    have taken, in order: ``refused`` is then whether a full read would have refused a value for
    its size (over the element limit or the budget), the case where a shape question is answered
    from shapes.
    """

    def __init__(self, left: int) -> None:
        self.left = left
        self.full_left = left  # what a full read would still have
        self.refused = False

    def take(self, elements: int, name: str, node: YNode) -> None:
        """Count a tensor of ``elements`` float64 numbers, or refuse it (at ``node``) before it is made."""
        need = elements * 8
        if need > self.left:
            raise NnlabError(f"'{name}' needs {limits.fmt_bytes(need)}, more than the memory budget leaves "
                             f"({limits.fmt_bytes(max(self.left, 0))} of {limits.fmt_bytes(limits.memory_budget())})",
                             node.loc, "make the tensors smaller, or raise the budget with --max-memory.",
                             kind="size")
        self.left -= need
        self.count_full(need, False)

    def count_full(self, need: int, over_limit: bool) -> None:
        """Count ``need`` bytes as a full read takes them; ``over_limit``: it would refuse them anyway."""
        if over_limit or need > self.full_left:
            self.refused = True
        self.full_left -= need


def _values(node: YNode | None, file: str, max_elements: int, data: bool,
            budget: _Budget | None = None, lazy: bool = False) -> dict[str, ValueDef]:
    out: dict[str, ValueDef] = {}
    if node is None:
        return out
    section = "data" if data else "values"
    if node.kind != "map":
        raise NnlabError(f"{section} must be a mapping of name: tensor", node.loc, kind="format")
    _collect(node, "", out, file, max_elements, section, budget or _Budget(limits.memory_budget()), lazy)
    if data:
        counts = {v.array.shape[0] if v.array.ndim else None for v in out.values()}
        for v in out.values():
            if v.array.ndim == 0:
                raise NnlabError(f"data '{v.name}' must be a list with one row per example", v.loc, kind="shape")
        if len(counts) > 1:
            sizes = ", ".join(f"{v.name}: {v.array.shape[0]}" for v in out.values())
            raise NnlabError(f"data sets have different numbers of examples ({sizes})", node.loc,
                             "every data name needs one row per example.", kind="shape")
    return out


def _collect(node: YNode, prefix: str, out: dict, file: str, max_elements: int, section: str,
             budget: _Budget, lazy: bool = False) -> None:
    for name, child in node.value.items():
        full = prefix + name
        loc = node.key_locs[name].shifted(0, len(name))
        if not name.isidentifier() or name.startswith("__"):
            raise NnlabError(f"'{name}' is not a valid name", loc,
                             "names start with a letter and contain letters, digits and _.", kind="name")
        if child.kind == "map" and "shape" not in child.value:
            if section == "data":
                raise NnlabError("data cannot hold groups", loc, kind="format")
            _collect(child, full + ".", out, file, max_elements, section, budget, lazy)
            continue
        array, exact = _tensor(child, full, max_elements, budget, lazy)
        out[full] = ValueDef(full, array, exact, loc)


def _tensor(node: YNode, name: str, max_elements: int,
            budget: _Budget | None = None, lazy: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    if node.kind == "map":
        return _spec(node, name, max_elements, budget, lazy)
    if node.kind == "scalar":
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise NnlabError(f"'{name}' must be a number, a nested list or a spec, got {node.raw!r}",
                             node.loc, "write e.g. `0.5`, `[1, 2]`, or `{shape: [2, 3], init: normal}`.",
                             kind="format")
        _finite_number(node, name)
        v = node.value
        array = np.array(float(v) if isinstance(v, int) and not _INT64_MIN <= v <= _INT64_MAX else v)
        return array, np.array(_fraction(node), dtype=object)
    shape = _shape_of(node, name)
    if len(shape) > limits.MAX_TENSOR_DIMS:
        raise NnlabError(f"'{name}' has {len(shape)} dimensions, more than the {limits.MAX_TENSOR_DIMS} nnlab supports",
                         node.loc, kind="shape")
    size = math.prod(shape)
    if size > max_elements:
        raise NnlabError(f"'{name}' has {size:,} elements, over the limit of {max_elements:,}", node.loc,
                         "raise it with --max-elements.", kind="size")
    if budget is not None:
        budget.take(size, name, node)
    leaves = _leaves(node)
    for leaf in leaves:
        _finite_number(leaf, name)
    nums = [leaf.value for leaf in leaves]
    as_int = all(isinstance(v, int) and _INT64_MIN <= v <= _INT64_MAX for v in nums)
    array = np.array(nums, dtype=np.int64 if as_int else np.float64).reshape(shape)
    if size > EXACT_MAX:
        return array, None
    exact = np.empty(len(leaves), dtype=object)
    exact[:] = [_fraction(leaf) for leaf in leaves]
    return array, exact.reshape(shape)


def _finite_number(node: YNode, name: str) -> None:
    """Refuse ``.nan`` and ``.inf`` as written values: a computation cannot start from them."""
    if isinstance(node.value, float) and not math.isfinite(node.value):
        raise NnlabError(f"'{name}' holds {node.raw}, which is not a finite number", node.loc,
                         "values and data must be ordinary numbers; a nan or inf that a step produces is "
                         "reported at that step.", kind="format")


_FRACTIONS: dict[str, Fraction] = {}
"""A number's text as written → its Fraction: the same few numbers (0, 1, 0.5…) recur across
tensors and files, and a Fraction parsed from text costs a regular expression (Fractions are
immutable, so one may be shared)."""


def _fraction(node: YNode) -> Fraction:
    raw = node.raw
    exact = _FRACTIONS.get(raw)
    if exact is not None:
        return exact
    value = node.value
    if isinstance(value, int):
        exact = Fraction(value)
    else:
        try:
            exact = Fraction(raw.replace("_", ""))
        except (ValueError, ZeroDivisionError):
            return Fraction(value) if math.isfinite(value) else value
    if len(_FRACTIONS) < 4096 and isinstance(raw, str):
        _FRACTIONS[raw] = exact
    return exact


def _shape_of(node: YNode, name: str) -> tuple[int, ...]:
    if node.kind == "scalar":
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise _not_a_number(node, name)
        return ()
    if node.kind != "seq":
        raise NnlabError(f"'{name}' contains a mapping inside a list", node.loc, kind="format")
    if not node.value:
        raise NnlabError(f"'{name}' contains an empty list", node.loc, kind="format")
    if all(child.kind == "scalar" for child in node.value):  # a row of numbers (most lists), in one loop
        for child in node.value:
            if isinstance(child.value, bool) or not isinstance(child.value, (int, float)):
                raise _not_a_number(child, name)
        return (len(node.value),)
    shapes = [_shape_of(child, name) for child in node.value]
    for child, s in zip(node.value, shapes):
        if s != shapes[0]:
            raise NnlabError(
                f"'{name}' is not rectangular: a row has shape {_fmt_shape(s)} where the first has "
                f"{_fmt_shape(shapes[0])}", child.loc,
                "every row must have the same number of entries.", kind="shape")
    return (len(node.value),) + shapes[0]


def _not_a_number(node: YNode, name: str) -> NnlabError:
    return NnlabError(f"'{name}' contains {node.raw!r}, which is not a number", node.loc,
                      "tensors hold numbers only.", kind="format")


def _fmt_shape(s: tuple[int, ...]) -> str:
    return "a single number" if s == () else f"{len(s) and s[0]} entries" if len(s) == 1 else str(s)


def _leaves(node: YNode) -> list[YNode]:
    if node.kind == "scalar":
        return [node]
    return [leaf for child in node.value for leaf in _leaves(child)]


def _spec(node: YNode, name: str, max_elements: int,
          budget: _Budget | None = None, lazy: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    for key in node.value:
        if key not in SPEC_KEYS:
            raise NnlabError(f"unknown key '{key}' in the spec of '{name}'", node.key_locs[key].shifted(0, len(key)),
                             did_you_mean(key, SPEC_KEYS) or f"a spec has {', '.join(SPEC_KEYS)}.", kind="format")
    spec = node.to_py()
    shape = spec["shape"]
    if isinstance(shape, int):
        shape = [shape]
    if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise NnlabError(f"the shape of '{name}' must be a list of positive whole numbers", node.value["shape"].loc,
                         kind="format")
    if len(shape) > limits.MAX_TENSOR_DIMS:
        raise NnlabError(f"the shape of '{name}' has {len(shape)} dimensions, more than the "
                         f"{limits.MAX_TENSOR_DIMS} nnlab supports", node.value["shape"].loc, kind="shape")
    size = math.prod(shape)  # Python integers: a product cannot wrap around to 0
    if lazy:  # a shape question: the init is still validated below, but no value is made
        if budget is not None:
            budget.count_full(size * 8, size > max_elements)
        budget = None
    elif size > max_elements:
        raise NnlabError(f"'{name}' has {size:,} elements, over the limit of {max_elements:,}", node.loc,
                         "raise it with --max-elements.", kind="size")
    if budget is not None:
        budget.take(size, name, node)
    init = spec.get("init", "zeros")
    if init not in INITS:
        raise NnlabError(f"unknown init {init!r} for '{name}'", node.value["init"].loc,
                         did_you_mean(str(init), INITS) or f"use one of {', '.join(INITS)}.", kind="format")
    scale = spec.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not np.isfinite(as_float(scale)):
        raise NnlabError(f"scale of '{name}' must be a number", node.value["scale"].loc, kind="format")
    seed = spec.get("seed", 0)
    if isinstance(seed, float) and seed.is_integer():
        seed = int(seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise NnlabError(f"seed of '{name}' must be a whole number ≥ 0, got {seed!r}", node.value["seed"].loc,
                         "e.g. seed: 0", kind="format")
    if lazy:
        return shape_stand_in(shape), None
    if size > EXACT_MAX and init in ("zeros", "ones", "range"):
        a = np.zeros(shape) if init == "zeros" else np.full(shape, float(scale)) if init == "ones" else \
            np.arange(size, dtype=np.float64).reshape(shape) * scale
        return a, None
    if init == "zeros":
        return np.zeros(shape), _exact_fill(shape, 0)
    if init == "ones":
        a = np.full(shape, float(scale))
        return a, _exact_fill(shape, _fraction(node.value["scale"]) if "scale" in spec else 1)
    if init == "range":
        a = np.arange(size, dtype=np.float64).reshape(shape) * scale
        ex = np.empty(size, dtype=object)
        k = _fraction(node.value["scale"]) if "scale" in spec else 1
        ex[:] = [Fraction(i) * k for i in range(size)]
        return a, ex.reshape(shape)
    rng = np.random.default_rng(seed)
    if init == "normal":
        # rng.normal(size=shape), a fifth faster: the same draws, and rng.normal's loc 0.0 is added
        # as it adds it (0.0 + z turns a drawn -0.0 into 0.0)
        a = rng.standard_normal(shape)
        a += 0.0
    else:
        a = rng.uniform(-1.0, 1.0, size=shape)
    if scale != 1:
        a *= scale  # in place: a second array of this size costs its page faults again
    return a, None


def shape_stand_in(shape: tuple[int, ...] | list[int]) -> np.ndarray:
    """A read-only array of ``shape`` that takes no memory (every element is one 0, by stride 0):
    the value of a tensor whose shape is all a shape question needs. The run that holds it says
    that its values were not computed (:data:`nnlab.engine.shapes.SHAPES_ONLY`)."""
    return np.broadcast_to(np.float64(0), tuple(shape))


def _exact_fill(shape, value) -> np.ndarray:
    ex = np.empty(shape, dtype=object)
    ex.fill(Fraction(value))  # one immutable Fraction, shared
    return ex


def _learn(node: YNode | None, values: dict, data: dict) -> tuple[str, ...]:
    if node is None:
        return ()
    items = node.value if node.kind == "seq" else [node]
    names = []
    for item in items:
        name = str(item.value)
        if name in data:
            raise NnlabError(f"'{name}' is data, it cannot be learned", item.loc, kind="name")
        group = [v for v in values if v.startswith(name + ".")]
        if name not in values and not group:
            raise NnlabError(f"learn names '{name}', which is not in values", item.loc,
                             did_you_mean(name, values), kind="name")
        names.append(name)
    return tuple(names)


def _compute(node: YNode) -> tuple[Equation, ...]:
    if node.kind != "seq":
        raise NnlabError("compute must be a list of `name = expression` lines", node.loc,
                         "write each line as `  - z1 = W1 @ x + b1`.", kind="format")
    if not node.value:
        raise NnlabError("compute is empty", node.loc, "add at least one `name = expression` line.",
                         kind="format")
    out = []
    for item in node.value:
        if item.kind != "scalar" or not isinstance(item.value, str):
            hint = None
            if item.kind == "map":
                hint = "a line with ': ' reads as a mapping in YAML; write `name = expression`, or quote the line."
            raise NnlabError("each compute line must be text `name = expression`", item.loc, hint, kind="syntax")
        out.append(parse_equation(item.raw, item.loc))
    return tuple(out)


def _options(node: YNode | None) -> dict[str, Any]:
    if node is None:
        return {}
    if node.kind != "map":
        raise NnlabError("options must be a mapping", node.loc, kind="format")
    for key in node.value:
        if key not in OPTION_KEYS:
            raise NnlabError(f"unknown option '{key}'", node.key_locs[key].shifted(0, len(key)),
                             did_you_mean(key, OPTION_KEYS) or
                             "options are: " + "; ".join(f"{k} — {v}" for k, v in OPTION_KEYS.items()),
                             kind="format")
    opts = node.to_py()
    if "arithmetic" in opts and opts["arithmetic"] not in ("auto", "exact", "float"):
        raise NnlabError(f"arithmetic must be 'auto', 'exact' or 'float', got {opts['arithmetic']!r}",
                         node.value["arithmetic"].loc, kind="format")
    for key, examples in (("step_at_zero", "0, 0.5 or 1"), ("sign_at_zero", "0, 1 or -1")):
        if key in opts:
            v = opts[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise NnlabError(f"{key} must be a number ({examples})", node.value[key].loc, kind="format")
            opts[f"{key}_exact"] = _fraction(node.value[key])
    for key in ("max_elements", "max_updates"):
        if key in opts:
            opts[key] = _positive_whole(node.value[key], f"options.{key}")
    return opts


def _positive_whole(node: YNode, what: str) -> int:
    """A limit written as a whole number ≥ 1 (``1e6`` is read as 1,000,000)."""
    v = node.value
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise NnlabError(f"{what} must be a whole number ≥ 1, got {node.raw!r}", node.loc, "e.g. 1000000",
                         kind="format")
    return v


def _tolerance_number(node: YNode, what: str) -> float:
    """A tolerance: a finite number ≥ 0."""
    v = node.value
    if node.kind != "scalar" or isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < float("inf"):
        shown = node.raw if node.kind == "scalar" else "a list" if node.kind == "seq" else "a mapping"
        raise NnlabError(f"{what} must be a number ≥ 0, got {shown!r}" if node.kind == "scalar" else
                         f"{what} must be a number ≥ 0, got {shown}", node.loc, "e.g. abs: 0.001", kind="format")
    return float(v)


# -------------------------------------------------------------------------- expect


def _tolerance(node: YNode | None) -> dict[str, float] | None:
    if node is None:
        return None
    if node.kind != "map":
        raise NnlabError("tolerance must be a mapping like {abs: 0.001, rel: 0}", node.loc, kind="format")
    for key in node.value:
        if key not in ("abs", "rel"):
            raise NnlabError(f"unknown tolerance key '{key}'", node.key_locs[key], did_you_mean(key, ("abs", "rel")),
                             kind="format")
    return {k: _tolerance_number(v, f"tolerance {k}") for k, v in node.value.items()}


def written_tolerance(raw: str) -> float:
    """Half a unit of the last written digit: ``"0.12"`` → 0.005, ``"19"`` → 0."""
    tol = _TOLERANCES.get(raw)
    if tol is None:
        tol = _written_tolerance(raw)
        if len(_TOLERANCES) < 4096:
            _TOLERANCES[raw] = tol
    return tol


_TOLERANCES: dict[str, float] = {}
""":func:`written_tolerance` by text (answers repeat the same few digits)."""


def _written_tolerance(raw: str) -> float:
    text = raw.strip().lstrip("+-").replace("_", "")
    mantissa, _, exponent = text.lower().partition("e")
    exp = int(exponent) if exponent else 0
    decimals = len(mantissa.split(".", 1)[1]) if "." in mantissa else 0
    if not exponent and not decimals:
        return 0.0
    try:
        return 0.5 * 10.0 ** (exp - decimals)
    except OverflowError:
        return float("inf")


class Unanswered:
    """The answer ``?``: the question is asked but not answered yet (a practice exercise)."""

    def __repr__(self) -> str:
        return "?"


UNANSWERED = Unanswered()
"""The one ``?`` answer (compare with ``is``)."""


def read_answer(node: YNode, ref: str) -> tuple[Any, Any, Any]:
    """Read one answer the way the ``expect`` block does.

    Args:
        node: The answer's YAML node (a number, list, boolean or quoted expression).
        ref: The reference it answers (for messages).

    Returns:
        ``(answer, raw text, absolute tolerance from the written digits)``.
    """
    if node.kind == "scalar":
        v = node.value
        if isinstance(v, bool):
            return v, node.raw, 0.0
        if isinstance(v, (int, float)):
            return v, node.raw, written_tolerance(node.raw)
        if isinstance(v, str):
            if v.strip() == "?":
                return UNANSWERED, "?", 0.0
            return answer_from_text(v, ref, _text_loc(node))
        raise NnlabError(f"the answer for '{ref}' is empty", node.loc, kind="format")
    if node.kind == "seq":
        row = node.value
        if row and all(c.kind == "scalar" and type(c.value) in (int, float) for c in row):
            raws = [c.raw for c in row]  # a row of plain numbers (most list answers): one pass
            return (np.array([c.value for c in row], dtype=float), "[" + ", ".join(raws) + "]",
                    np.array([written_tolerance(r) for r in raws]))
        leaves = _leaves(node)
        nums, raws = [], []
        for leaf in leaves:
            value, raw = leaf.value, leaf.raw
            if isinstance(value, str) and leaf.kind == "scalar":  # −0.25 as students write it
                number = _number(value, _text_loc(leaf))
                if number is not None:
                    value, raw = number
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise NnlabError(f"answers in a list must be numbers, got {leaf.raw!r}", leaf.loc,
                                 "quote a whole expression instead: '[...]' is not supported; use numbers.",
                                 kind="format")
            nums.append(value)
            raws.append(raw)
        shape = _answer_shape(node, ref)
        values = np.array(nums, dtype=float).reshape(shape)
        tol = np.array([written_tolerance(r) for r in raws]).reshape(shape)
        return values, _raw_text(node), tol
    raise NnlabError(f"the answer for '{ref}' must be a number, a list, true/false or a quoted expression",
                     node.loc, kind="format")


def answer_from_text(text: str, ref: str, loc: Location | None = None) -> tuple[Any, Any, Any]:
    """Read an answer written as text, the way students write it (see :func:`parse_answer`).

    A plain number (``−0.34``) keeps the tolerance of its written digits, a list of
    numbers or a shape (``5x7``, ``(5, 7)``) becomes an array; anything else stays an
    expression evaluated when checking (``σ(2) − 1``, ``e^2``).

    Returns:
        ``(answer, raw text, absolute tolerance)`` as :func:`read_answer`.

    Raises:
        NnlabError: An unreadable answer, at its line and column.
    """
    if text.strip() == "?":
        return UNANSWERED, "?", 0.0
    expr = parse_answer(text, loc, shape=ref.replace(" ", "").startswith("shape("))
    if isinstance(expr, Num):
        return expr.value, expr.raw, written_tolerance(expr.raw)
    if isinstance(expr, ListLit) and all(isinstance(i, Num) for i in expr.items):
        raws = [i.raw for i in expr.items]
        return (np.array([i.value for i in expr.items], dtype=float), "[" + ", ".join(raws) + "]",
                np.array([written_tolerance(r) for r in raws]))
    return expr, text, 0.0


def _number(text: str, loc: Location | None) -> tuple[float, str] | None:
    """``(value, digits as written)`` if ``text`` is one number in student notation, else None."""
    try:
        expr = parse_answer(text, loc)
    except NnlabError:
        return None
    return (expr.value, expr.raw) if isinstance(expr, Num) else None


def _text_loc(node: YNode) -> Location:
    """Where a scalar's text starts (after an opening quote)."""
    return node.loc.shifted(1) if getattr(node, "quoted", False) else node.loc


def _answer_shape(node: YNode, ref: str) -> tuple[int, ...]:
    """The shape of a nested list answer (its leaves may be numbers written as text)."""
    if node.kind == "scalar":
        return ()
    if node.kind != "seq" or not node.value:
        return _shape_of(node, ref)
    shapes = [_answer_shape(c, ref) for c in node.value]
    if any(s != shapes[0] for s in shapes):
        return _shape_of(node, ref)  # raises, naming the ragged row
    return (len(node.value),) + shapes[0]


def _raw_text(node: YNode) -> str:
    """A nested list as the user wrote its numbers (``[0.6900, 1]``, trailing zeros kept)."""
    if node.kind == "scalar":
        return node.raw or ""
    return "[" + ", ".join(_raw_text(c) for c in node.value) + "]"


def _expect(node: YNode | None, tolerance: dict[str, float] | None
            ) -> tuple[tuple[ExpectEntry, ...], ExpectedError | None]:
    if node is None:
        return (), None
    if node.kind != "map":
        raise NnlabError("expect must be a mapping of `reference: answer`", node.loc,
                         "e.g. `yhat: 0.62` or `grad(W1)[0, 1]: -0.03`.", kind="format")
    out = []
    error = None
    for ref, child in node.value.items():
        loc = node.key_locs[ref].shifted(0, len(ref))
        if ref.strip() == "error" and child.kind == "scalar" and isinstance(child.value, str) \
                and not getattr(child, "quoted", False) and child.value.strip() in ERROR_KINDS:
            error = ExpectedError(child.value.strip(), len(out), loc, child.loc)
            continue
        expr = parse_expr(ref, loc, qualified=True)
        explicit = False
        rel = tolerance.get("rel", 0.0) if tolerance else 0.0
        if child.kind == "map" and "value" in child.value:
            for key in child.value:
                if key not in ("value", "abs", "rel"):
                    raise NnlabError(f"unknown key '{key}' in the answer for '{ref}'", child.key_locs[key],
                                     did_you_mean(key, ("value", "abs", "rel")), kind="format")
            answer, raw, abs_tol = read_answer(child.value["value"], ref)
            answer_loc = child.value["value"].loc
            if "abs" in child.value or "rel" in child.value:
                explicit = True
                abs_tol = _tolerance_number(child.value["abs"], "abs") if "abs" in child.value else 0.0
                rel = _tolerance_number(child.value["rel"], "rel") if "rel" in child.value else 0.0
        else:
            answer, raw, abs_tol = read_answer(child, ref)
            answer_loc = child.loc
            if tolerance is not None:
                explicit = True
                abs_tol = tolerance.get("abs", 0.0)
        out.append(ExpectEntry(ref, expr, answer, raw, abs_tol, rel, loc, answer_loc, explicit))
    return tuple(out), error
