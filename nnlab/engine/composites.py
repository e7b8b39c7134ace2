"""Composite ops as equation templates written in the scenario language.

A composite such as ``attention`` is not an op of its own: assigned to ``C`` it expands
into named compute lines of primitive ops (``C.scores``, ``C.weights``, ``C``), so a
student can step through and check every part, and the engine differentiates them with
the machinery every other line uses. Each composite is a few equations, parsed once at
import by the same safe parser as a scenario's compute lines (:mod:`nnlab.scenario.expr`,
never ``eval``). Adding a composite is adding one :func:`composite` call below.

How a template reads:

- ``out`` is the name the call is assigned to, ``out.r`` one of its named parts; every
  line assigns a part, and the last line assigns ``out`` itself.
- The signature's parameters stand for the call's arguments; they are substituted as
  syntax trees, so an argument that is an expression compiles like one written in place.
- A parameter passed as ``None`` (or an optional group member that is absent) drops out:
  ``a + None`` is ``a``, and ``key=None`` is left out of a call. This is how optional
  biases vanish without leaving an ``+ 0`` step behind.
- With a ``group`` parameter ``P``, ``P.W_ir`` names the member ``W_ir`` of the group the
  call passes (``values: {P: {W_ir: …}}``).
- ``# text`` after a line is the formula its step shows: ``{x}`` is the argument's source
  text, ``{out}`` the assigned name, ``{variant}`` a literal's value, and any word the
  composite's ``words`` function makes from the arguments (``{scaling}``). Without it a
  step shows its expanded equation, and the last line shows the user's own line.
- Several bodies are picked by a literal parameter (``choose``: ``gru_cell``'s
  ``variant``) or, when it is how an argument is *written* that matters, by ``pick``
  (``attention``'s ``mask``: left out or ``'causal'``, a 0/1 matrix in the call, or a
  value's name each expand into other steps).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from nnlab.errors import did_you_mean
from nnlab.scenario.expr import (BinOp, Bool, Call, Expr, Index, ListLit, Name, Neg, NoneLit, Num, Str,
                                 parse_equation, parse_expr, to_text)

OUT = "out"
"""The name a template uses for the name its call is assigned to."""


# The records here are NamedTuples: defining a dataclass costs ~0.4 ms of nnlab check's start-up each.
class Choice(NamedTuple):
    """A literal parameter that must be one of a few values (``mask``, ``variant``).

    Attributes:
        noun: What the parameter is called in the error (``"unknown GRU variant 'x'"``).
        values: The allowed values.
        hint: The hint for any other value.
        suggest: Suggest the closest allowed value first (``did you mean …?``).
    """

    noun: str
    values: tuple[Any, ...]
    hint: str
    suggest: bool = False

    def hint_for(self, value: Any) -> str:
        """The hint for a value that is not allowed."""
        words = [str(v) for v in self.values if isinstance(v, str)]
        return (did_you_mean(str(value), words) if self.suggest else None) or self.hint


class Group(NamedTuple):
    """A parameter naming a group of values (``P`` of ``gru_cell``) and its members.

    Attributes:
        param: The parameter.
        needs: Members that must exist.
        optional: Members that may be absent (absent ones drop out of sums).
        note: Said after the list of needed members in the hint (``"biases b_… are optional"``).
    """

    param: str
    needs: tuple[str, ...]
    optional: tuple[str, ...] = ()
    note: str = ""


class Part(NamedTuple):
    """One expanded line: a named part (``C.scores``), its expression and the text its step shows."""

    name: str
    expr: Expr
    text: str


class _Line(NamedTuple):
    name: str          # "out" or "out.scores"
    expr: Expr
    text: str | None   # a format string, or None for the default


class Composite(NamedTuple):
    """A composite op: a signature and the equations it expands into.

    Attributes:
        name: The function name in compute lines.
        params: Parameter names, in order.
        defaults: Default expressions of the optional parameters.
        bodies: The template lines; keyed by the value of ``choose`` when there is one
            (``gru_cell``'s ``variant``), else by ``None``.
        choose: The literal parameter that picks a body, if any.
        choices: Literal parameters and their allowed values (validated before expanding).
        group: The parameter naming a group of values, if any.
        pick: Picks the body from how the call writes its arguments (attention's ``mask``:
            a literal, a matrix or a value's name), when a literal ``choose`` cannot.
        words: Extra ``{…}`` words for the step texts, made from the call's arguments
            (``{scaling}``: ``/ √d_k`` unless a ``scale`` is given).
    """

    name: str
    params: tuple[str, ...]
    defaults: dict[str, Expr]
    bodies: dict[Any, tuple[_Line, ...]]
    choose: str | None = None
    choices: Mapping[str, Choice] = MappingProxyType({})
    group: Group | None = None
    pick: Callable[[dict[str, Expr]], Any] | None = None
    words: Callable[[dict[str, Expr]], dict[str, str]] | None = None

    def expand(self, out: str, args: dict[str, Expr], literals: dict[str, Any], members: set[str],
               line_text: str, col: int, end: int) -> list[Part]:
        """The named lines one call expands into.

        Args:
            out: The name the call is assigned to.
            args: Every parameter's expression (defaults filled in).
            literals: The values of the :attr:`choices` parameters.
            members: Ids of the group's members present (``{"P.W_ir", …}``), if there is a group.
            line_text: The user's line text (shown by the last line unless its template says).
            col: Start of the call in its line; every node the template makes points there.
            end: End of the call.
        """
        group = None if self.group is None else args[self.group.param]
        env = _Env(out, args, self.group.param if self.group else None,
                   group.id if isinstance(group, Name) else "", members, col, end)
        texts = {p: to_text(args[p]) for p in self.params} | {k: str(v) for k, v in literals.items()}
        texts[OUT] = out
        if self.words is not None:
            texts |= self.words(args)
        key = literals[self.choose] if self.choose else self.pick(args) if self.pick else None
        body = self.bodies[key]
        parts = []
        for k, line in enumerate(body):
            expr = env.subst(line.expr)
            if line.text is not None:
                text = line.text.format(**texts)
            else:
                text = line_text if k == len(body) - 1 else to_text(expr)
            parts.append(Part(out + line.name[len(OUT):], expr, text))
        return parts


class _Env(NamedTuple):
    out: str
    args: dict[str, Expr]
    group_param: str | None
    group: str
    members: set[str]
    col: int
    end: int

    def subst(self, e: Expr) -> Expr:
        c = (self.col, self.end)
        if isinstance(e, Name):
            return self._name(e.id)
        if isinstance(e, Num):
            return Num(e.value, e.raw, *c)
        if isinstance(e, (Str, Bool)):
            return type(e)(e.value, *c)
        if isinstance(e, NoneLit):
            return NoneLit(*c)
        if isinstance(e, BinOp):
            left, right = self.subst(e.left), self.subst(e.right)
            if e.op == "+" and isinstance(right, NoneLit):
                return left
            if e.op == "+" and isinstance(left, NoneLit):
                return right
            return BinOp(e.op, left, right, *c)
        if isinstance(e, Neg):
            return Neg(self.subst(e.operand), *c)
        if isinstance(e, Call):
            kwargs = tuple((k, v) for k, v in ((k, self.subst(v)) for k, v in e.kwargs)
                           if not isinstance(v, NoneLit))
            return Call(e.func, tuple(self.subst(a) for a in e.args), kwargs, *c)
        if isinstance(e, Index):
            return Index(self.subst(e.value), e.key, *c)
        if isinstance(e, ListLit):
            return ListLit(tuple(self.subst(i) for i in e.items), *c)
        raise TypeError(f"unsupported template syntax: {to_text(e)}")  # pragma: no cover

    def _name(self, ident: str) -> Expr:
        if ident in self.args:
            return self.args[ident]
        head, _, rest = ident.partition(".")
        if head == OUT:
            return Name(self.out + ident[len(OUT):], self.col, self.end)
        if head == self.group_param:
            member = f"{self.group}.{rest}"
            return Name(member, self.col, self.end) if member in self.members else NoneLit(self.col, self.end)
        raise KeyError(ident)  # pragma: no cover - composite() refuses such templates


def composite(signature: str, body: str | dict[Any, str], *, choose: str | None = None,
              choices: dict[str, Choice] | None = None, group: Group | None = None,
              pick: Callable[[dict[str, Expr]], Any] | None = None,
              words: Callable[[dict[str, Expr]], dict[str, str]] | None = None) -> Composite:
    """Define a composite from its signature and equations (see the module docstring).

    Args:
        signature: ``"name(a, b, c=default)"`` in the equation language.
        body: The equations, one per line, the last assigning ``out``; or one such body per
            value of the ``choose`` parameter (or per key ``pick`` returns).
        choose: The literal parameter picking the body.
        choices: Literal parameters and their allowed values.
        group: The parameter naming a group of values.
        pick: A function of the call's arguments (syntax trees) returning the body's key.
        words: A function of the call's arguments returning extra words for step texts.

    Raises:
        ValueError: A template that names something it does not define (a bug in this file).
    """
    call = parse_expr(signature)
    if not isinstance(call, Call):
        raise ValueError(f"a signature is a call, e.g. 'f(x, b=None)', got {signature!r}")
    params = tuple(a.id for a in call.args if isinstance(a, Name)) + tuple(k for k, _ in call.kwargs)
    bodies = body if isinstance(body, dict) else {None: body}
    comp = Composite(call.func, params, dict(call.kwargs),
                     {key: tuple(_line(raw) for raw in text.splitlines() if raw.strip()) for key, text in bodies.items()},
                     choose, dict(choices or {}), group, pick, words)
    if set(comp.choices) - set(params) or (choose and set(comp.bodies) != set(comp.choices[choose].values)):
        raise ValueError(f"{comp.name}: choices must be parameters, and each choice of {choose} needs a body")
    for lines in comp.bodies.values():
        _check(comp, lines)
    return comp


def _line(raw: str) -> _Line:
    eq_text, _, text = raw.partition("#")
    eq = parse_equation(eq_text.strip())
    return _Line(eq.name, eq.expr, text.strip() or None)


def _check(comp: Composite, lines: tuple[_Line, ...]) -> None:
    known = set(comp.params)
    if comp.group is not None:
        known |= {f"{comp.group.param}.{m}" for m in comp.group.needs + comp.group.optional}
    for line in lines:
        for ident in _names(line.expr):
            if ident not in known:
                raise ValueError(f"{comp.name}: line '{line.name} = …' uses '{ident}', not defined before it")
        if line.name != OUT and not line.name.startswith(OUT + "."):
            raise ValueError(f"{comp.name}: line '{line.name}' must assign {OUT} or {OUT}.part")
        known.add(line.name)
    if not lines or lines[-1].name != OUT:
        raise ValueError(f"{comp.name}: the last line must assign {OUT}")


def _names(e: Expr) -> list[str]:
    if isinstance(e, Name):
        return [e.id]
    if isinstance(e, BinOp):
        return _names(e.left) + _names(e.right)
    if isinstance(e, Neg):
        return _names(e.operand)
    if isinstance(e, Call):
        return [n for a in e.args for n in _names(a)] + [n for _, v in e.kwargs for n in _names(v)]
    if isinstance(e, Index):
        return _names(e.value)
    if isinstance(e, ListLit):
        return [n for i in e.items for n in _names(i)]
    return []


# --------------------------------------------------------------------------- the composites

_GRU_GATES = """
out.r = sigmoid((P.W_ir @ x + P.b_ir) + (P.W_hr @ h + P.b_hr))     # σ(W_ir·{x} + b_ir + W_hr·{h} + b_hr)
out.z = sigmoid((P.W_iz @ x + P.b_iz) + (P.W_hz @ h + P.b_hz))     # σ(W_iz·{x} + b_iz + W_hz·{h} + b_hz)
"""
_GRU_BLEND = """
out = out.z * h + (1 - out.z) * out.n                              # z ⊙ {h} + (1 − z) ⊙ n   [{variant}]
"""

_ATTENTION_SCORES = """
out.scores = attention_scores(Q, K, scale=scale)            # {Q} @ {K}.T{scaling}
"""
_ATTENTION_MIX = """
out = out.weights @ V                                       # {out}.weights @ {V}
"""


def _mask_form(mask: Expr) -> str:
    """Which attention body a mask written this way takes: ``softmax`` (none or ``'causal'``),
    ``tensor`` (a name or an expression: a value's mask) or ``literal`` (anything else, a
    0/1 matrix; ``masked_softmax`` refuses what is not one, naming the forms)."""
    if isinstance(mask, NoneLit) or isinstance(mask, Str) and mask.value == "causal":
        return "softmax"
    if isinstance(mask, (Num, Str, Bool, ListLit)):
        return "literal"
    return "tensor"


def _spec(signature: str, body: Any, **options: Any) -> tuple[str, Any, dict[str, Any]]:
    """A composite's definition, parsed only when the composite is first used (keeps start-up light)."""
    return signature, body, options


class _Composites(Mapping[str, Composite]):
    """Composites by name; each template is parsed on first use (``nnlab check`` parses only what it needs)."""

    def __init__(self, specs: tuple[tuple[str, Any, dict[str, Any]], ...]) -> None:
        self._specs = {sig.split("(", 1)[0].strip(): (sig, body, options) for sig, body, options in specs}
        self._built: dict[str, Composite] = {}

    def __getitem__(self, name: str) -> Composite:
        if name not in self._built:
            signature, body, options = self._specs[name]
            self._built[name] = composite(signature, body, **options)
        return self._built[name]

    def __iter__(self) -> Any:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs


COMPOSITES: Mapping[str, Composite] = _Composites((
    _spec("attention(Q, K, V, mask=None, scale=None)", {
        # no mask, or mask='causal' (softmax's own)
        "softmax": _ATTENTION_SCORES + """
        out.weights = softmax(out.scores, axis=-1, mask=mask)
        """ + _ATTENTION_MIX,
        # a 0/1 matrix written in the call
        "literal": _ATTENTION_SCORES + """
        out.weights = masked_softmax(out.scores, keep=mask)     # softmax over the keys where the mask is 1
        """ + _ATTENTION_MIX,
        # a value's (or data) name
        "tensor": _ATTENTION_SCORES + """
        out.weights = masked_softmax(out.scores, mask)          # softmax over the keys where {mask} = 1
        """ + _ATTENTION_MIX},
        pick=lambda args: _mask_form(args["mask"]),
        words=lambda args: {"scaling": " / √d_k" if isinstance(args["scale"], NoneLit)
                            else f" · {to_text(args['scale'])}"}),

    _spec("gru_cell(x, h, P, variant='reset_after')", {
        # PyTorch's GRUCell: the reset gate scales W_hn·h + b_hn
        "reset_after": _GRU_GATES + """
        out.n = tanh((P.W_in @ x + P.b_in) + out.r * (P.W_hn @ h + P.b_hn))  # tanh(W_in·{x} + b_in + r ⊙ (W_hn·{h} + b_hn))
        """ + _GRU_BLEND,
        # Cho et al. 2014 / d2l: the reset gate scales h before W_hn
        "reset_before": _GRU_GATES + """
        out.n = tanh((P.W_in @ x + P.b_in) + (P.W_hn @ (out.r * h) + P.b_hn))  # tanh(W_in·{x} + b_in + W_hn·(r ⊙ {h}) + b_hn)
        """ + _GRU_BLEND},
        choose="variant",
        choices={"variant": Choice("GRU variant", ("reset_after", "reset_before"),
                                   "use 'reset_after' or 'reset_before'.", suggest=True)},
        group=Group("P", ("W_ir", "W_hr", "W_iz", "W_hz", "W_in", "W_hn"),
                    ("b_ir", "b_hr", "b_iz", "b_hz", "b_in", "b_hn"), "biases b_… are optional")),

    # PyTorch's LSTMCell: gates i, f, g, o; each gate's two biases (b_i… and b_h…) are optional
    _spec("lstm_cell(x, h, c, P)", """
        out.i = sigmoid((P.W_ii @ x + P.b_ii) + (P.W_hi @ h + P.b_hi))    # σ(W_ii·{x} + b_ii + W_hi·{h} + b_hi)
        out.f = sigmoid((P.W_if @ x + P.b_if) + (P.W_hf @ h + P.b_hf))    # σ(W_if·{x} + b_if + W_hf·{h} + b_hf)
        out.g = tanh((P.W_ig @ x + P.b_ig) + (P.W_hg @ h + P.b_hg))       # tanh(W_ig·{x} + b_ig + W_hg·{h} + b_hg)
        out.o = sigmoid((P.W_io @ x + P.b_io) + (P.W_ho @ h + P.b_ho))    # σ(W_io·{x} + b_io + W_ho·{h} + b_ho)
        out.c = out.f * c + out.i * out.g                                 # f ⊙ {c} + i ⊙ g
        out = out.o * tanh(out.c)                                         # o ⊙ tanh({out}.c)
        """, group=Group("P", tuple(f"W_{s}{g}" for g in "ifgo" for s in "ih"),
                         tuple(f"b_{s}{g}" for g in "ifgo" for s in "ih"), "biases b_… are optional")),

    _spec("rnn_cell(x, h, W_xh, W_hh, b=None)", """
        out = tanh(W_xh @ x + W_hh @ h + b)
        """),

    _spec("dense(x, W, b=None)", """
        out = W @ x + b
        """),

    # inverted dropout (PyTorch's F.dropout in training): the mask is a step of its own
    _spec("dropout(x, p, seed=0)", """
        out.mask = dropout_mask(x, p=p, seed=seed)      # 1 where u ≥ {p}, u = default_rng({seed}).random(shape)
        out = inverted_dropout(x, out.mask, p=p)        # {x} ⊙ mask / (1 − {p})
        """),

    # training-mode batch normalization over the examples of a data batch (biased variance),
    # one mean and variance per feature or channel (PyTorch's BatchNorm1d/2d)
    _spec("batchnorm(x, gamma, beta, eps=1e-5)", """
        out.mean = batch_mean(x)
        out.var = batch_mean((x - out.mean) ** 2)
        out.xhat = (x - out.mean) / sqrt(out.var + eps)
        out = channel_affine(out.xhat, gamma, beta)             # {gamma} ⊙ {out}.xhat + {beta}
        """),

    # layer normalization over the last axis of each example (biased variance), as F.layer_norm
    _spec("layernorm(x, gamma, beta, eps=1e-5)", """
        out.mean = mean(x, axis=-1, keepdims=True)
        out.var = mean((x - out.mean) ** 2, axis=-1, keepdims=True)
        out.xhat = (x - out.mean) / sqrt(out.var + eps)
        out = gamma * out.xhat + beta                           # {gamma} ⊙ {out}.xhat + {beta}
        """),
))
"""Every composite by name, in the order the docs list them."""
