"""The equation language: Python-like expressions parsed into our own small tree.

We use :func:`ast.parse` only as a tokenizer/parser — nothing is ever evaluated —
and accept a whitelist of node types: numbers, names (dotted for groups and
sub-nodes), ``+ - * / @ **``, unary minus, calls with keyword arguments, indexing
and slices, indexing by a tensor of whole numbers (``W[idx]``), ``.T``, literal lists
(keyword values, and the tensor lists of ``concat([a, b])``), strings and booleans. Anything
else (attribute access on expressions, lambdas, comprehensions, dunder names…) is
refused as unsupported syntax with its column, so ``__import__('os')`` or
``().__class__`` can never mean anything.
"""

from __future__ import annotations

import ast
import re
from keyword import iskeyword
from typing import Any, NamedTuple, Union

from nnlab.errors import Location, NnlabError
from nnlab.limits import number_problem

# --------------------------------------------------------------------------- nodes


class Num(NamedTuple):
    """A number literal; ``raw`` keeps the digits as written (for exact decimals)."""

    value: int | float
    raw: str
    col: int = 0
    end: int = 0


class Name(NamedTuple):
    """A name, possibly dotted (``P.W_ir``, ``C.weights``)."""

    id: str
    col: int = 0
    end: int = 0


class Str(NamedTuple):
    """A quoted string (keyword values such as ``reduction='sum'``)."""

    value: str
    col: int = 0
    end: int = 0


class Bool(NamedTuple):
    """``True``/``False`` (also ``true``/``false``)."""

    value: bool
    col: int = 0
    end: int = 0


class NoneLit(NamedTuple):
    """``None`` (as a keyword value)."""

    col: int = 0
    end: int = 0


class ListLit(NamedTuple):
    """A literal list ``[2, 3]`` (keyword values, expected answers)."""

    items: tuple[Expr, ...]
    col: int = 0
    end: int = 0


class BinOp(NamedTuple):
    """``left op right`` with ``op`` one of ``+ - * / @ **``."""

    op: str
    left: Expr
    right: Expr
    col: int = 0
    end: int = 0


class Neg(NamedTuple):
    """Unary minus."""

    operand: Expr
    col: int = 0
    end: int = 0


class Call(NamedTuple):
    """``func(args…, key=value…)``; ``func`` may be dotted (``epoch(3).grad``)."""

    func: str
    args: tuple[Expr, ...]
    kwargs: tuple[tuple[str, Expr], ...]
    col: int = 0
    end: int = 0
    target: Expr | None = None  # for method-style calls on a qualified reference: epoch(1).grad(w)


class Index(NamedTuple):
    """``value[key]``; key items are ints or ``slice`` objects (static only)."""

    value: Expr
    key: tuple[int | slice, ...]
    col: int = 0
    end: int = 0


class Take(NamedTuple):
    """``value[index]`` with a tensor of whole numbers as the index (``W[idx]``, ``W[[0, 2]]``):
    the rows of ``value`` it names, an embedding lookup."""

    value: Expr
    index: Expr
    col: int = 0
    end: int = 0


class Attr(NamedTuple):
    """``value.name`` on a call result: ``epoch(3).w`` (references only) or ``x.T``."""

    value: Expr
    name: str
    col: int = 0
    end: int = 0


Expr = Union[Num, Name, Str, Bool, NoneLit, ListLit, BinOp, Neg, Call, Index, Take, Attr]

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.MatMult: "@", ast.Pow: "**"}
_BOOL_NAMES = {"true": True, "false": False}

_DESCRIBE = {
    ast.Lambda: "lambda", ast.IfExp: "if-expression", ast.Compare: "comparison",
    ast.BoolOp: "and/or", ast.Dict: "dictionary", ast.Set: "set", ast.ListComp: "comprehension",
    ast.GeneratorExp: "generator", ast.DictComp: "comprehension", ast.SetComp: "comprehension",
    ast.Await: "await", ast.Yield: "yield", ast.Starred: "*-argument",
    ast.JoinedStr: "f-string", ast.NamedExpr: ":=", ast.Tuple: "tuple",
}


# --------------------------------------------------------------------------- parsing


class _Parser:
    def __init__(self, text: str, loc: Location | None, allow_qualified: bool) -> None:
        self.lead = len(text) - len(text.lstrip())
        self.text = text.strip()
        self.loc = loc
        self.allow_qualified = allow_qualified
        self._ascii = self.text.isascii()  # then ast's byte offsets are character offsets
        self._bytes = None if self._ascii else self.text.encode("utf-8")

    def _char(self, byte_offset: int | None) -> int:
        if byte_offset is None:
            return 0
        if self._ascii:
            return byte_offset
        return len(self._bytes[:byte_offset].decode("utf-8", errors="ignore"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        """Character offsets of ``node`` in the original (unstripped) text."""
        start, end = node.col_offset, node.end_col_offset
        if not self._ascii:
            start, end = self._char(start), self._char(end)
        return start + self.lead, (end or start + 1) + self.lead

    def source(self, start: int, end: int) -> str:
        return self.text[start - self.lead:end - self.lead]

    def error(self, message: str, node: ast.AST | None = None, hint: str | None = None,
              col: int | None = None, length: int = 1) -> NnlabError:
        if node is not None:
            col, end = self.span(node)
            length = max(1, end - col)
        return NnlabError(message, _at(self.loc, col or 0, length), hint, kind="syntax")

    def parse(self) -> Expr:
        if not self.text.strip():
            raise NnlabError("empty expression", _at(self.loc, 0, 1), kind="syntax")
        if "\n" in self.text.strip():
            raise NnlabError("an expression must fit on one line", _at(self.loc, 0, 1), kind="syntax")
        try:
            tree = ast.parse(self.text, mode="eval")
        except SyntaxError as exc:
            col = max(0, (exc.offset or 1) - 1) + self.lead
            hint = None
            if "=" in self.text and "==" not in self.text:
                hint = "'=' belongs only after the node name: `name = expression`."
            elif self.text.count("(") != self.text.count(")"):
                hint = "the parentheses do not balance."
            elif self.text.count("[") != self.text.count("]"):
                hint = "the brackets do not balance."
            msg = exc.msg or "invalid syntax"
            raise NnlabError(f"syntax error: {msg}", _at(self.loc, col, 1), hint, kind="syntax") from None
        except (ValueError, RecursionError, MemoryError):
            raise NnlabError("expression too long or too deeply nested", _at(self.loc, 0, 1),
                             kind="syntax") from None
        try:
            return self.visit(tree.body)
        except RecursionError:
            raise NnlabError("expression too deeply nested", _at(self.loc, 0, 1), kind="syntax") from None

    # -- visitors
    def visit(self, node: ast.AST) -> Expr:
        col, end = self.span(node)
        kind = type(node)  # ast.parse makes exactly these types, no subclasses
        # The forms that nest are read here, one frame a level as they always were: how deep an
        # expression may nest before "too deeply nested" must not change. The rest go by _VISITORS.
        if kind is ast.BinOp:
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise self.error(f"unsupported operator '{self.source(col, end)}'", node,
                                 "use + - * / @ or **.")
            return BinOp(op, self.visit(node.left), self.visit(node.right), col, end)
        if kind is ast.UnaryOp:
            if isinstance(node.op, ast.USub):
                inner = self.visit(node.operand)
                if isinstance(inner, Num):
                    return Num(-inner.value, "-" + inner.raw, col, end)
                return Neg(inner, col, end)
            if isinstance(node.op, ast.UAdd):
                return self.visit(node.operand)
            raise self.error("unsupported unary operator", node)
        if kind is ast.Subscript:
            if isinstance(node.slice, (ast.Name, ast.Attribute, ast.List)):  # W[idx], W[[0, 2]]: a tensor index
                return Take(self.visit(node.value), self.visit(node.slice), col, end)
            return Index(self.visit(node.value), self._key(node.slice), col, end)
        if kind is ast.List:
            return ListLit(tuple(self.visit(e) for e in node.elts), col, end)
        visitor = _VISITORS.get(kind)
        if visitor is None:
            what = _DESCRIBE.get(kind, kind.__name__)
            raise self.error(f"unsupported syntax: {what}", node,
                             "the equation language has numbers, names, + - * / @ **, calls and indexing.")
        return visitor(self, node, col, end)

    def _constant(self, node: ast.Constant, col: int, end: int) -> Expr:
        value = node.value
        if isinstance(value, bool):
            return Bool(value, col, end)
        if isinstance(value, (int, float)):
            raw = self.source(col, end)
            problem = number_problem(raw)  # 1e-999999999 would be a billion digits exactly
            if problem:
                raise self.error(problem, node)
            return Num(value, raw, col, end)
        if isinstance(value, str):
            return Str(value, col, end)
        if value is None:
            return NoneLit(col, end)
        raise self.error(f"unsupported literal {type(value).__name__}", node)

    def _name(self, node: ast.Name, col: int, end: int) -> Expr:
        ident = node.id
        if ident in _BOOL_NAMES:
            return Bool(_BOOL_NAMES[ident], col, end)
        if ident == "None":
            return NoneLit(col, end)
        if ident.startswith("__"):
            raise self.error(f"unsupported syntax: name '{ident}'", node)
        return Name(ident, col, end)

    def _attribute(self, node: ast.Attribute, col: int, end: int) -> Expr:
        if node.attr.startswith("_"):
            raise self.error(f"unsupported syntax: attribute '.{node.attr}'", node)
        dotted = _dotted(node)
        if dotted is not None:
            if node.attr == "T":
                base = dotted.rsplit(".", 1)[0]
                base_end = col + len(base)
                return Call("transpose", (Name(base, col, base_end),), (), col, end)
            return Name(dotted, col, end)
        if node.attr == "T":
            return Call("transpose", (self.visit(node.value),), (), col, end)
        if self.allow_qualified:  # update(3).W1, or a dotted node of it: update(3).D.mask
            attrs, root = [node.attr], node.value
            while isinstance(root, ast.Attribute) and not root.attr.startswith("_"):
                attrs.append(root.attr)
                root = root.value
            if isinstance(root, ast.Call):
                return Attr(self.visit(root), ".".join(reversed(attrs)), col, end)
        raise self.error("unsupported syntax: attribute access on an expression", node,
                         "only dotted names (P.W_ir) and .T are allowed.")

    def _call(self, node: ast.Call, col: int, end: int) -> Expr:
        func = node.func
        args = tuple(self.visit(a) for a in node.args)
        kwargs = []
        for kw in node.keywords:
            if kw.arg is None:
                raise self.error("unsupported syntax: **-arguments", kw.value)
            kwargs.append((kw.arg, self.visit(kw.value)))
        if isinstance(func, ast.Name):
            if func.id.startswith("__"):
                raise self.error(f"unsupported syntax: name '{func.id}'", func)
            return Call(func.id, args, tuple(kwargs), col, end)
        if (self.allow_qualified and isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Call) and not func.attr.startswith("_")):
            return Call(func.attr, args, tuple(kwargs), col, end, target=self.visit(func.value))
        raise self.error("unsupported syntax: only named functions can be called", func,
                         "call an operation by name, e.g. sigmoid(z).")

    def _key(self, node: ast.AST) -> tuple[int | slice, ...]:
        items = node.elts if isinstance(node, ast.Tuple) else [node]
        return tuple(self._key_item(i) for i in items)

    def _key_item(self, node: ast.AST) -> int | slice:
        if isinstance(node, ast.Slice):
            parts = [None if p is None else self._int(p) for p in (node.lower, node.upper, node.step)]
            return slice(*parts)
        return self._int(node)

    def _int(self, node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return node.value
        if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
                and isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, int)):
            return -node.operand.value
        raise self.error("an index must be a whole number or a slice like 0:2", node)


_VISITORS = {
    ast.Constant: _Parser._constant, ast.Name: _Parser._name, ast.Attribute: _Parser._attribute,
    ast.Call: _Parser._call,
}
"""The node types of the equation language that do not nest directly, each with its visitor."""


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            return None
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and not node.id.startswith("__"):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _at(loc: Location | None, col: int, length: int = 1) -> Location | None:
    if loc is None:
        return Location("<expression>", 1, col + 1, "", length)
    return loc.shifted(col, length)


def parse_expr(text: str, loc: Location | None = None, *, qualified: bool = False) -> Expr:
    """Parse one expression of the equation language.

    Args:
        text: The expression, e.g. ``"W1 @ x + b1"``.
        loc: Where ``text`` starts in the scenario file (for error positions).
        qualified: Also accept reference forms ``epoch(3).w`` and ``epoch(1).grad(w)``.

    Raises:
        NnlabError: For anything outside the language, with the column of the culprit.
    """
    key = (text, qualified)
    expr = _PARSED.get(key)
    if expr is None:
        name = text.strip()
        if name.isidentifier() and name.isascii() and not iskeyword(name) and not name.startswith("__") \
                and name not in _BOOL_NAMES:  # a plain name (loss, yhat): what ast would give, without it
            lead = len(text) - len(text.lstrip())
            expr = Name(name, lead, lead + len(name))
        else:
            expr = _Parser(text, loc, qualified).parse()
        if len(_PARSED) < 4096:
            _PARSED[key] = expr
    return expr


_PARSED: dict[tuple[str, bool], Expr] = {}
"""Expressions parsed so far, by text: the same references (``loss``, ``grad(W1)``) recur across
files and runs. A tree is immutable and holds no location (``loc`` only places errors, which are
never kept), so one tree serves every place its text is written."""


_ASSIGN = re.compile(r"^(\s*)([^\s=]+(?:\s*\.\s*[^\s=]+)*)\s*=(?!=)(.*)$")
_IDENT = re.compile(r"^[^\W\d]\w*(\.[^\W\d]\w*)*$")


class Equation(NamedTuple):
    """One ``compute`` line: ``name = expression``."""

    name: str
    expr: Expr
    text: str          # the expression text
    loc: Location      # where the line starts
    expr_loc: Location  # where the expression starts


def parse_equation(line: str, loc: Location | None = None) -> Equation:
    """Parse ``name = expression``.

    Raises:
        NnlabError: When ``=`` is missing, the name is not an identifier, or the
            expression is invalid.
    """
    loc = loc or Location("<expression>", 1, 1, line)
    match = _ASSIGN.match(line)
    if not match:
        head, _, rest = line.strip().partition(" ")
        hint = "every compute line assigns a new name: `name = expression`, e.g. `z1 = W1 @ x + b1`."
        if rest and _IDENT.match(head):
            hint = f"did you mean `{head} = {rest.strip()}`? every compute line is `name = expression`."
        raise NnlabError(f"expected 'name = expression', got '{line.strip()}'",
                         loc.shifted(0, max(1, len(line))), hint, kind="syntax")
    lead, name, rest = match.group(1), match.group(2), match.group(3)
    name = re.sub(r"\s+", "", name)
    if not _IDENT.match(name) or name in ("True", "False", "None", "true", "false"):
        raise NnlabError(f"'{name}' is not a valid node name", loc.shifted(len(lead), len(name)),
                         "names start with a letter and contain letters, digits and _.", kind="syntax")
    offset = len(line) - len(rest)
    expr_loc = loc.shifted(offset, 1)
    return Equation(name, parse_expr(rest, expr_loc), rest.strip(), loc, expr_loc)


def to_text(e: Expr) -> str:
    """Render an expression back to compact source text."""
    if isinstance(e, Num):
        return e.raw or repr(e.value)
    if isinstance(e, Name):
        return e.id
    if isinstance(e, Str):
        return repr(e.value)
    if isinstance(e, Bool):
        return "True" if e.value else "False"
    if isinstance(e, NoneLit):
        return "None"
    if isinstance(e, ListLit):
        return "[" + ", ".join(to_text(i) for i in e.items) + "]"
    if isinstance(e, BinOp):
        return f"{_wrap(e.left, e.op, False)} {e.op} {_wrap(e.right, e.op, True)}"
    if isinstance(e, Neg):
        return "-" + _wrap(e.operand, "neg", True)
    if isinstance(e, Call):
        if e.func == "transpose" and not e.kwargs and len(e.args) == 1:
            return _wrap(e.args[0], "T", False) + ".T"
        parts = [to_text(a) for a in e.args] + [f"{k}={to_text(v)}" for k, v in e.kwargs]
        head = (to_text(e.target) + "." if e.target is not None else "") + e.func
        return f"{head}({', '.join(parts)})"
    if isinstance(e, Index):
        return f"{_wrap(e.value, 'index', False)}[{', '.join(key_text(k) for k in e.key)}]"
    if isinstance(e, Take):
        return f"{_wrap(e.value, 'index', False)}[{to_text(e.index)}]"
    if isinstance(e, Attr):
        return f"{to_text(e.value)}.{e.name}"
    raise TypeError(e)  # pragma: no cover


_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2, "neg": 3, "**": 4, "T": 5, "index": 5}


def _wrap(e: Expr, parent: str, right: bool) -> str:
    text = to_text(e)
    if isinstance(e, BinOp):
        p, q = _PREC[e.op], _PREC[parent]
        if p < q or (p == q and right and parent in "-/@") or (p == q and parent == "**" and not right):
            return f"({text})"
    if isinstance(e, Neg) and _PREC[parent] >= 4:
        return f"({text})"
    if isinstance(e, Num) and isinstance(e.value, (int, float)) and e.value < 0 and parent in ("**", "T", "index"):
        return f"({text})"
    return text


def key_text(k: int | slice) -> str:
    if isinstance(k, slice):
        s = ("" if k.start is None else str(k.start)) + ":" + ("" if k.stop is None else str(k.stop))
        return s + (f":{k.step}" if k.step is not None else "")
    return str(k)


# --------------------------------------------------------------------------- answers

# Patterns (with re's own cache, compiled on first use: most files have no answer written as text)
_ANSWER_SUBS = (
    (r"[\u2212\u2013\u2014]", "-"),          # − – — (Unicode minus and dashes)
    (r"[\u00d7\u00b7\u22c5\u2219]", "*"),    # × · ⋅ ∙
    (r"\^", "**"),
    (r"\u03c3(?=\s*\()", "sigmoid"),         # σ(…)
    (r"\u221a(?=\s*\()", "sqrt"),            # √(…)
    (r"(?<![\w.])ln(?=\s*\()", "log"),       # ln(…) is the natural log
)
_SHAPE = r"^\(?\s*(\d+)\s*(?:[x×X*,]\s*\d+\s*)+,?\s*\)?$"
_TUPLE = r"^\(\s*([^()]*,[^()]*)\)$"


def _normalize(text: str) -> tuple[str, list[int] | None]:
    """Student notation → the equation language, and for each new character its original column
    (None when there is nothing to replace: the columns are the text's own)."""
    if text.isascii() and "^" not in text and "ln" not in text:  # most answers: no pattern can match
        return text, None
    return _replace_notation(text)


def _replace_notation(text: str) -> tuple[str, list[int]]:
    """:func:`_normalize`, pattern by pattern."""
    cols = list(range(len(text) + 1))
    for pattern, repl in _ANSWER_SUBS:
        out, new_cols, last = [], [], 0
        for m in re.finditer(pattern, text):
            out.append(text[last:m.start()])
            new_cols.extend(cols[last:m.start()])
            out.append(repl)
            new_cols.extend([cols[m.start()]] * len(repl))
            last = m.end()
        out.append(text[last:])
        new_cols.extend(cols[last:])
        text, cols = "".join(out), new_cols
    return text, cols


def parse_answer(text: str, loc: Location | None = None, *, shape: bool = False) -> Expr:
    """Parse an answer as students write it (and as nnlab prints numbers).

    Beyond the equation language this reads Unicode minus ``−``, ``×`` and ``·`` for
    products, ``^`` for powers, ``σ(…)``, ``√(…)``, ``ln(…)`` (the natural log), ``e``
    (Euler's number: ``e^2``), ``(5, 7)`` as a list and, for a shape (``shape=True``),
    ``5x7`` or ``5×7`` as ``[5, 7]``.

    Args:
        text: The answer.
        loc: Where it is written (errors point at the original column).
        shape: The answer is a shape: read ``A×B`` as a list, not a product.

    Raises:
        NnlabError: An unreadable answer, at its line and column.
    """
    stripped = text.strip()
    lead = len(text) - len(text.lstrip())
    if shape or re.match(r"^\d+\s*[xX]\s*\d+", stripped):
        m = re.match(_SHAPE, stripped)
        if m and (shape or not stripped.startswith("(")):
            nums = [int(n) for n in re.findall(r"\d+", stripped)]
            return ListLit(tuple(Num(n, str(n), lead, lead + len(stripped)) for n in nums), lead,
                           lead + len(stripped))
    norm, cols = _normalize(text)
    m = re.match(_TUPLE, norm.strip()) or re.match(r"^\(\s*\)$", norm.strip())
    if m:  # (5, 7) → [5, 7]; () → []
        inner_lead = len(norm) - len(norm.lstrip())
        norm = norm[:inner_lead] + "[" + norm.strip()[1:-1] + "]" + norm[inner_lead + len(norm.strip()):]
    try:
        expr = parse_expr(norm, None, qualified=True)
    except NnlabError as exc:
        col = exc.loc.col - 1 if exc.loc is not None and exc.loc.col else 0
        col = min(max(col, 0), len(norm))
        orig = cols[col] if cols is not None else col
        length = exc.loc.length if exc.loc is not None else 1
        where = _at(loc, orig, length) if loc is not None else Location("<answer>", 1, orig + 1, text, length)
        raise NnlabError(f"cannot read the answer {text.strip()!r}: {exc.message}", where,
                         exc.hint or "write a number (−0.25 or -0.25), a list [0.1, 0.2], a shape 5x7, "
                         "or an expression such as σ(2) − 1, 2·0.5, e^2, ln(0.3).", kind="syntax") from None
    if cols is not None:
        expr = _remap(expr, cols)
    if norm.isascii() and "e" not in norm:  # no name e (Python reads ℯ as e, hence the isascii)
        return expr
    return _with_e(expr)


def _remap(e: Any, cols: list[int]) -> Any:
    """Move the columns of a parsed answer back to the text as written."""
    if isinstance(e, tuple) and hasattr(e, "_fields"):
        upd = {}
        for f in e._fields:
            v = getattr(e, f)
            if f in ("col", "end") and isinstance(v, int):
                upd[f] = cols[min(v, len(cols) - 1)]
            elif isinstance(v, tuple) and v and not hasattr(v, "_fields"):
                upd[f] = tuple(_remap(i, cols) for i in v)
            elif hasattr(v, "_fields"):
                upd[f] = _remap(v, cols)
        return e._replace(**upd)
    if isinstance(e, tuple):
        return tuple(_remap(i, cols) for i in e)
    return e


def _with_e(e: Any) -> Any:
    """``e`` alone is Euler's number in an answer (``e^2``)."""
    if isinstance(e, Name) and e.id == "e":
        import math

        return Num(math.e, "e", e.col, e.end)
    if isinstance(e, tuple) and hasattr(e, "_fields"):
        upd = {}
        for f in e._fields:
            v = getattr(e, f)
            if hasattr(v, "_fields"):
                upd[f] = _with_e(v)
            elif isinstance(v, tuple) and v and not isinstance(v[0], (int, slice)):
                upd[f] = tuple(_with_e(i) for i in v)
        return e._replace(**upd) if upd else e
    if isinstance(e, tuple):
        return tuple(_with_e(i) for i in e)
    return e
