"""One-line Unicode and LaTeX for sympy expressions, in the notation of the lecture.

sympy's own pretty printer draws fractions on several lines and its string printer
writes ``yhat*(1 - yhat)``; students read ``ŷ·(1 − ŷ)``. :func:`unicode` is a small
:class:`~sympy.printing.str.StrPrinter` that keeps one line (terminals, tables) and
uses σ, ·, −, superscripts, √ and the names as the scenario writes them: an element
symbol ``a1[0]`` stays ``a1[0]`` (so it matches the engine's ``∂loss/∂a1[0]``), and
a name ending in ``hat`` gets a hat (``yhat`` → ``ŷ``).
"""

from __future__ import annotations

import re
import unicodedata

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

GREEK = {name: chr(code) for name, code in (
    ("alpha", 0x3B1), ("beta", 0x3B2), ("gamma", 0x3B3), ("delta", 0x3B4), ("epsilon", 0x3B5),
    ("eta", 0x3B7), ("theta", 0x3B8), ("lambda", 0x3BB), ("mu", 0x3BC), ("sigma", 0x3C3),
    ("tau", 0x3C4), ("phi", 0x3C6), ("omega", 0x3C9))}
SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
SUBSCRIPT = {"i": "ᵢ", "j": "ⱼ", "k": "ₖ", "a": "ₐ", "b": "ᵦ", "o": "ₒ", "r": "ᵣ", "n": "ₙ"}
_INDEX_ORDER = {"f": 0, "c": 1, "i": 2, "j": 3, "r": 4, "q": 5, "k": 6, "a": 7, "b": 8}
_ELEM = re.compile(r"^(?P<base>[^\[]+)\[(?P<index>[^\]]*)\]$")


def pretty_name(name: str) -> str:
    """``yhat`` → ``ŷ``, ``alpha`` → ``α``; element indices (``a1[0]``) are kept as written."""
    base, sep, rest = name.partition("[")
    head, dot, tail = base.rpartition(".")
    part = tail if dot else base
    if part in GREEK:
        part = GREEK[part]
    elif part.endswith("_hat") and len(part) > 4:
        part = part[:-4] + "\u0302"
    elif part.endswith("hat") and len(part) > 3:
        part = part[:-3] + "\u0302"
    return unicodedata.normalize("NFC", (head + dot if dot else "") + part + sep + rest)


def _row_name(args) -> str | None:
    """``z[0], z[1], z[2]`` → ``z``; ``S[1,0], S[1,1]`` → ``S[1,:]``; else None."""
    parts = []
    for a in args:
        m = _ELEM.match(a.name) if isinstance(a, sp.Symbol) else None
        if not m:
            return None
        parts.append((m["base"], tuple(m["index"].split(","))))
    base, first = parts[0]
    if any(b != base or idx[:-1] != first[:-1] for b, idx in parts):
        return None
    if [idx[-1] for _, idx in parts] != [str(k) for k in range(len(parts))]:
        return None
    return base if len(first) == 1 else f"{base}[{','.join(first[:-1])},:]"


def _factor_rank(f) -> int:
    """Plain factors first, then sums, then logarithms: σ(z)·(1 − σ(z)), (1 − y)·ln(1 − ŷ)."""
    if isinstance(f, sp.log):
        return 2
    return 1 if f.is_Add else 0


class UnicodePrinter(StrPrinter):
    """One-line Unicode: ``σ(z)·(1 − σ(z))``, ``(ŷ − y)·W2[0,0]``, ``x²``, ``√x``."""

    printmethod = "_nnlab_unicode"  # not "_sympystr": Indexed would print itself and skip ours

    def _print_Symbol(self, expr):
        # '*' inside a name (a sub-expression's text, "(theta ** 2)") must survive the '·' of products.
        return pretty_name(expr.name).replace("*", "\x00")

    _print_Dummy = _print_Symbol

    def _print_Idx(self, expr):
        return pretty_name(expr.name)

    def _print_Mul(self, expr):
        # The lecture's order: plain factors first, parenthesized sums last (σ(z)·(1 − σ(z))).
        c, rest = expr.as_coeff_mul()
        if len(rest) > 1:
            ordered = sorted(rest, key=_factor_rank)
            if list(ordered) != list(rest):
                expr = sp.Mul(*((c,) if c != 1 else ()), *ordered, evaluate=False)
        return super()._print_Mul(expr).replace("*", "·")

    def _print_Add(self, expr, order=None):
        # A leading number goes last when a positive term can open the sum (σ(2) − 1, not −1 + σ(2)).
        terms = list(expr.args)
        numbers = [t for t in terms if t.is_Number]
        others = [t for t in terms if not t.is_Number]
        if numbers and any(not t.could_extract_minus_sign() for t in others):
            first = [t for t in others if not t.could_extract_minus_sign()][:1]
            terms = first + [t for t in others if t not in first] + numbers
        elif others and others[0].could_extract_minus_sign():
            positive = [t for t in others if not t.could_extract_minus_sign()]
            if positive:
                terms = positive[:1] + [t for t in terms if t is not positive[0]]
        return super()._print_Add(sp.Add(*terms, evaluate=False), order="none")

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.as_base_exp()
        if exp is sp.S.Half:
            inner = self._print(base)
            return f"√{inner}" if base.is_Atom else f"√({inner})"
        if exp == -sp.S.Half:
            inner = self._print(base)
            return f"1/√{inner}" if base.is_Atom else f"1/√({inner})"
        if exp.is_Integer and exp > 1:
            return self.parenthesize(base, sp.printing.precedence.PRECEDENCE["Pow"], strict=True) + \
                str(int(exp)).translate(SUPERSCRIPT)
        text = super()._print_Pow(expr, rational)
        return text.replace("**", "^")

    def _print_Float(self, expr):
        v = float(expr)
        if v == int(v) and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.6g}"

    def _print_Function(self, expr):
        name = {"log": "ln"}.get(expr.func.__name__, expr.func.__name__)
        return f"{name}(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_sigmoid(self, expr):
        return f"σ({self._print(expr.args[0])})"

    def _print_softplus(self, expr):
        return f"ln(1 + exp({self._print(expr.args[0])}))"

    def _print_relu(self, expr):
        return f"relu({self._print(expr.args[0])})"

    def _print_step(self, expr):
        return f"step({self._print(expr.args[0])})"

    def _print_Heaviside(self, expr):
        return f"[{self._print(expr.args[0])} > 0]"

    def _print_Abs(self, expr):
        return f"|{self._print(expr.args[0])}|"

    def _print_KroneckerDelta(self, expr):
        i, j = (self._print(a) for a in expr.args)
        if len(i) == 1 and len(j) == 1 and i in SUBSCRIPT and j in SUBSCRIPT:
            return f"δ{SUBSCRIPT[i]}{SUBSCRIPT[j]}"
        return f"δ({i},{j})"

    def _args_text(self, args) -> str:
        row = _row_name(args)
        return pretty_name(row) if row else ", ".join(self._print(a) for a in args)

    def _print_softmax_at(self, expr):
        return f"softmax({self._args_text(expr.args[1:])})[{self._print(expr.args[0])}]"

    def _print_log_softmax_at(self, expr):
        return f"log_softmax({self._args_text(expr.args[1:])})[{self._print(expr.args[0])}]"

    def _print_first_max(self, expr):
        return f"max({self._args_text(expr.args)})"

    def _print_is_first_max(self, expr):
        k = int(expr.args[0])
        return f"[{self._print(expr.args[1 + k])} is the max of ({self._args_text(expr.args[1:])})]"

    @staticmethod
    def _limits(expr) -> str:
        names = [str(lim[0]) for lim in expr.limits]
        if all(n in SUBSCRIPT for n in names):
            return "".join(SUBSCRIPT[n] for n in names)
        return "_(" + ",".join(names) + ")"

    def _print_Sum(self, expr):
        body = self.parenthesize(expr.function, sp.printing.precedence.PRECEDENCE["Mul"], strict=True)
        return f"Σ{self._limits(expr)} {body}"

    def _print_Product(self, expr):
        body = self.parenthesize(expr.function, sp.printing.precedence.PRECEDENCE["Mul"], strict=True)
        return f"Π{self._limits(expr)} {body}"

    def _print_Indexed(self, expr):
        parts = []
        for i in expr.indices:
            if isinstance(i, sp.Add):  # i·s + a − p, in the order the lecture writes it
                terms = sorted(i.args, key=lambda t: (t.is_Number, _INDEX_ORDER.get(
                    str(next(iter(t.free_symbols))) if t.free_symbols else "", 9)))
                parts.append(self._print(sp.Add(*terms, evaluate=False)))
            else:
                parts.append(self._print(i))
        sep = ", " if any(" " in p for p in parts) else ","
        return pretty_name(str(expr.base)) + "[" + sep.join(parts) + "]"

    def _print_Equality(self, expr):
        return f"{self._print(expr.lhs)} = {self._print(expr.rhs)}"

    def _print_Piecewise(self, expr):
        parts = []
        for e, c in expr.args:
            parts.append(self._print(e) if c is sp.true else f"{self._print(e)} if {self._print(c)}")
        return "{" + "; ".join(parts) + "}"

    def doprint(self, expr):
        text = super().doprint(expr)
        return text.replace(" - ", " − ").replace("(-", "(−").replace("-", "−").replace(">=", "≥") \
            .replace("<=", "≤").replace("!=", "≠").replace("\x00", "*")


_UNICODE = UnicodePrinter({"order": "none"})


def tidy(expr):
    """Pull a common number out of a sum for display: ``ŷ/2 − y/2`` → ``(ŷ − y)/2``."""
    expr = sp.sympify(expr)
    if expr.is_Add:
        pulled = sp.factor_terms(expr)
        if pulled.is_Mul and len(unicode(pulled)) <= len(unicode(expr)) + 2:
            return pulled
    return expr


def unicode(expr) -> str:
    """One line of Unicode for a sympy expression (or equation)."""
    return _UNICODE.doprint(expr)


def _latex_name(name: str) -> str:
    base, sep, rest = name.partition("[")
    pretty = base
    if base.endswith("_hat") and len(base) > 4:
        pretty = base[:-4] + "hat"
    head = sp.latex(sp.Symbol(pretty.replace(".", r"\_"))) if "." not in pretty else \
        r"\mathrm{" + pretty.replace("_", r"\_") + "}"
    return head + (r"\left[" + rest[:-1] + r"\right]" if sep else "")


class _Latex(LatexPrinter):
    def _print_Symbol(self, expr, style="plain"):
        return _latex_name(expr.name)

    def _print_Heaviside(self, expr, exp=None):
        return rf"\left[{self._print(expr.args[0])} > 0\right]"


def latex(expr) -> str:
    """LaTeX for a sympy expression, with element symbols as ``a_{1}\\left[0\\right]``."""
    return _Latex().doprint(expr)
