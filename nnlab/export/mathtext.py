"""The engine's one-line Unicode math (``∂loss/∂W1[0,0] = (−0.0494)·0.5``) as LaTeX math.

Why a translator and not a second set of formulas: every rule, every line of
arithmetic and every number in an export is the text the engine wrote for the
console and the lab (:class:`~nnlab.engine.trace.Explanation`, the symbolic chain,
the shape rules). Exports need the same text as LaTeX — for ``pdflatex``, for
GitHub's ``$…$`` and for MathML — so this module rewrites its spelling (``Σ`` →
``\\sum``, ``W1`` → ``\\mathrm{W1}``, ``ₐ,ᵦ`` → ``_{a,b}``) and never its content:
the numbers pass through character for character.
"""

from __future__ import annotations

import re

GREEK = {
    "α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "δ": r"\delta", "ε": r"\varepsilon", "ζ": r"\zeta",
    "η": r"\eta", "θ": r"\theta", "κ": r"\kappa", "λ": r"\lambda", "μ": r"\mu", "ν": r"\nu", "ξ": r"\xi",
    "π": r"\pi", "ρ": r"\rho", "σ": r"\sigma", "τ": r"\tau", "φ": r"\phi", "χ": r"\chi", "ψ": r"\psi",
    "ω": r"\omega", "Γ": r"\Gamma", "Δ": r"\Delta", "Θ": r"\Theta", "Λ": r"\Lambda", "Π": r"\Pi",
    "Σ": r"\sum", "Φ": r"\Phi", "Ψ": r"\Psi", "Ω": r"\Omega", "ℓ": r"\ell",
}
SYMBOLS = {
    "·": r"\cdot", "×": r"\times", "−": "-", "∂": r"\partial", "√": r"\surd", "∞": r"\infty",
    "≈": r"\approx", "≤": r"\leq", "≥": r"\geq", "≠": r"\neq", "∈": r"\in", "∗": r"\ast", "⊙": r"\odot",
    "←": r"\leftarrow", "→": r"\to", "⌊": r"\lfloor", "⌋": r"\rfloor", "⌈": r"\lceil", "⌉": r"\rceil",
    "⟨": r"\langle", "⟩": r"\rangle", "‖": r"\|", "…": r"\ldots", "⋯": r"\cdots", "⋮": r"\vdots", "—": "-", "–": "-",
    "½": r"\tfrac{1}{2}", "✓": r"\checkmark", "✗": r"\times", "′": "'", "∑": r"\sum", "∏": r"\prod",
    "{": r"\{", "}": r"\}", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$", "_": r"\_", "~": r"\sim",
    "\\": r"\backslash",
}
# ᵦ (a subscript beta) is the engine's subscript b: Unicode has no subscript b (Σₐ,ᵦ X[i+a, j+b])
SUB = dict(zip("₀₁₂₃₄₅₆₇₈₉₊₋ₐₑₒₓₕₖₗₘₙₚₛₜᵢⱼᵣᵤᵥᵦᵧ", "0123456789+-aeoxhklmnpstijruvbγ"))
SUP = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾ᵀᵈᵗᶻⁿⁱ", "0123456789+-()⊤dtzni"))
ACCENTS = {"\u0302": r"\hat", "\u0303": r"\tilde", "\u0304": r"\bar", "\u0307": r"\dot"}
PRECOMPOSED = {"ŷ": "y\u0302", "ỹ": "y\u0303", "x̂": "x\u0302", "ȳ": "y\u0304", "ā": "a\u0304"}
FUNCTIONS = {"exp", "log", "ln", "max", "min", "tanh", "sin", "cos", "sinh", "cosh", "det"}

_SUBS, _SUPS = "".join(SUB), "".join(SUP)
_TOKEN = re.compile(
    rf"(?P<num>\d+(?:\.\d+)?(?:e[+-]?\d+)?)"
    rf"|(?P<word>[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*[\u0302-\u0307]?)"
    rf"|(?P<pow>\^(?:\([^()]*\)|[−-]?\|[^|]*\||[−-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?|\w))"
    rf"|(?P<sub>[{_SUBS}]+(?:,[{_SUBS}]+)*)"
    rf"|(?P<sup>[{_SUPS}]+)"
    rf"|(?P<space> +)"
    rf"|(?P<other>.)", re.DOTALL)


def to_latex(text: str) -> str:
    """One line of the engine's Unicode math as LaTeX math (without ``$``).

    Numbers are copied unchanged; a one-letter name stays italic, a longer one is
    set upright (``\\mathrm{W1}``); spaces between two words are kept (``where``,
    ``summed over 3 examples``) and runs of spaces become a ``\\quad``.

    >>> to_latex("Y[0,0] = 0×0 + 1×1 = 1")
    'Y[0,0] = 0 \\\\times 0 + 1 \\\\times 1 = 1'
    """
    for composed, decomposed in PRECOMPOSED.items():
        text = text.replace(composed, decomposed)
    out: list[str] = []
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(text)]
    for k, (kind, tok) in enumerate(tokens):
        if kind == "num":
            out.append(tok)
        elif kind == "word":
            out.append(_word(tok))
        elif kind == "pow":
            out.append("^{" + to_latex(tok[1:]) + "}")
        elif kind == "sub":
            out.append("_{" + "".join(_char(SUB.get(c, c)) for c in tok) + "}")
        elif kind == "sup":
            out.append("^{" + "".join(_char(SUP.get(c, c)) for c in tok) + "}")
        elif kind == "space":
            out.append(_space(tokens, k))
        else:
            out.append(_char(tok))
    return _join(out)


def _word(tok: str) -> str:
    accent = ACCENTS.get(tok[-1])
    if accent:
        return f"{accent}{{{_word(tok[:-1])}}}"
    if len(tok) == 1:
        return tok
    if tok in FUNCTIONS:
        return "\\" + tok
    return r"\mathrm{" + tok.replace("_", r"\_") + "}"


def _char(c: str) -> str:
    if c in SYMBOLS:
        return SYMBOLS[c]
    if c in GREEK:
        return GREEK[c]
    if c == "⊤":
        return r"\top"
    if c in ACCENTS:  # an accent with nothing to sit on
        return ""
    return c


def _space(tokens: list[tuple[str | None, str]], k: int) -> str:
    if len(tokens[k][1]) >= 2 and 0 < k < len(tokens) - 1:
        return r"\quad "
    before = tokens[k - 1][0] if k > 0 else None
    after = tokens[k + 1][0] if k + 1 < len(tokens) else None
    if before in ("word", "num") and after in ("word", "num"):
        return r"\ "
    return " "


def _join(parts: list[str]) -> str:
    """Join, keeping a control word apart from a following letter (``\\cdot x``, not ``\\cdotx``)."""
    out: list[str] = []
    for p in parts:
        if out and _CONTROL_END.search(out[-1]) and p[:1].isalnum():
            out.append(" ")
        out.append(p)
    return re.sub(r" {2,}", " ", "".join(out)).strip()


_CONTROL_END = re.compile(r"\\[A-Za-z]+$")


def escape_text(text: str) -> str:
    """Plain text for LaTeX's text mode (Unicode is left to the preamble's declarations)."""
    table = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
             "%": r"\%", "_": r"\_", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}"}
    return "".join(table.get(c, c) for c in text)


def escape_code(text: str) -> str:
    """Text for ``\\texttt``: as :func:`escape_text`, with straight quotes and backticks kept straight,
    so a command copied out of the PDF still runs in a shell (TeX would print ’ and ‘)."""
    table = {"'": r"\textquotesingle{}", "`": r"\textasciigrave{}", '"': r"\textquotedbl{}"}
    return "".join(table.get(c) or escape_text(c) for c in text)


__all__ = ["escape_code", "escape_text", "to_latex"]
