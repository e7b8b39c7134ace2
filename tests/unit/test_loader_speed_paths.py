"""The loader's faster paths give exactly what the slower ones give.

``load(shapes_fallback=True)`` reads a shape question for shapes first and makes its values
only if none would be refused for its size; it must decide exactly as the old way did (make
the values, and on a size error read the file again for shapes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnlab import limits
from nnlab.errors import NnlabError
from nnlab.scenario.model import loads

ROOT = Path(__file__).resolve().parents[2]


def _outcome(scenario_or_error):
    """What a load gives, comparable: values and data by name and shape, or the error."""
    if isinstance(scenario_or_error, NnlabError):
        e = scenario_or_error
        return ("error", e.message, e.loc, e.hint, e.kind)
    s = scenario_or_error
    tensors = {name: (v.array.shape, v.array.dtype, v.loc, None if s.shape_only else v.array.tolist(),
                      None if v.exact is None else v.exact.tolist())
               for name, v in {**s.values, **s.data}.items()}
    expect = [(e.ref, e.expr, repr(e.answer), e.raw, repr(e.abs_tol), e.rel_tol, e.loc, e.answer_loc)
              for e in s.expect]
    return (s.shape_only, s.max_elements, tensors, expect, s.expect_error, s.equations)


def _load(text: str, **kw):
    try:
        return loads(text, "t.yaml", **kw)
    except NnlabError as exc:
        return exc


def _the_old_way(text: str):
    """Make the values; on a size error, a shape question is read again for shapes only."""
    try:
        return loads(text, "t.yaml")
    except NnlabError as exc:
        if exc.kind != "size":
            return exc
        shapes = _load(text, shapes_only=True)
        return shapes if isinstance(shapes, NnlabError) or shapes.shape_only else exc


HEAD = "nnlab: 1\ntitle: t\n"
SHAPE_Q = "compute:\n  - y = W @ x\nexpect:\n  shape(y): [4]\n  params: 12\n"
CASES = {
    "fits": HEAD + "values:\n  W: {shape: [4, 3], init: normal, seed: 1}\n  x: [1, 2, 3]\n" + SHAPE_Q,
    "over the element limit": HEAD + "options: {max_elements: 10}\n"
    "values:\n  W: {shape: [4, 3], init: normal}\n  x: [1, 2, 3]\n" + SHAPE_Q,
    "a later error after the refusal": HEAD + "options: {max_elements: 10}\n"
    "values:\n  W: {shape: [4, 3]}\n  x: [1, 2, 3]\n  z: {shape: [2], init: nope}\n" + SHAPE_Q,
    "an error before the refusal": HEAD + "options: {max_elements: 10}\n"
    "values:\n  z: {shape: [2], seed: -1}\n  W: {shape: [4, 3]}\n  x: [1, 2, 3]\n" + SHAPE_Q,
    "a list over the element limit": HEAD + "options: {max_elements: 2}\n"
    "values:\n  W: {shape: [4, 3]}\n  x: [1, 2, 3]\n" + SHAPE_Q,
    "not a shape question": HEAD + "options: {max_elements: 10}\n"
    "values:\n  W: {shape: [4, 3]}\n  x: [1, 2, 3]\ncompute:\n  - y = W @ x\nexpect:\n  y: [0, 0, 0, 0]\n",
    "training": HEAD + "options: {max_elements: 10}\n"
    "values:\n  W: {shape: [4, 3]}\n  x: [1, 2, 3]\nlearn: [W]\n" + SHAPE_Q + "train: {lr: 0.1, epochs: 1}\n",
    "an expect error": HEAD + "options: {max_elements: 10}\n"
    "values:\n  W: {shape: [4, 3]}\n  x: [1, 2, 3]\ncompute:\n  - y = W @ x\nexpect:\n  shape(y): [4]\n  y(: 1\n",
}


@pytest.mark.parametrize("name", CASES)
def test_shapes_first_decides_as_making_the_values_first(name: str) -> None:
    text = CASES[name]
    assert _outcome(_load(text, shapes_fallback=True)) == _outcome(_the_old_way(text))


@pytest.mark.parametrize("budget", [20_000, 24_000, 24_010, 24_023, 24_024, 10**6])
def test_shapes_first_counts_the_memory_budget_as_a_full_read(budget: int) -> None:
    """W takes 24,000 bytes and x 24 in a full read; a shapes-first read takes only x's 24 for real."""
    text = (HEAD + "values:\n  W: {shape: [1000, 3]}\n  x: [1, 2, 3]\n"
            "compute:\n  - y = W @ x\nexpect:\n  shape(y): [1000]\n  params: 3003\n")
    limits.set_memory_budget(budget)
    try:
        got, want = _load(text, shapes_fallback=True), _the_old_way(text)
    finally:
        limits.set_memory_budget(None)
    assert _outcome(got) == _outcome(want)
    assert not isinstance(got, NnlabError) and got.shape_only == (budget < 24_024)


def test_bundled_shape_questions_read_as_before() -> None:
    for name, shape_only in (("vgg16-params", True), ("conv-alexnet-params", False), ("mlp-param-count", False)):
        text = (ROOT / "scenarios" / f"{name}.yaml").read_text(encoding="utf-8")
        got = _load(text, shapes_fallback=True)
        assert got.shape_only is shape_only
        assert _outcome(got) == _outcome(_the_old_way(text))
        if not shape_only:
            assert all(isinstance(v.array, np.ndarray) and v.array.flags.writeable for v in got.values.values())


ANSWERS = ["V[0]", "exp(C.scores[0, 0]) / (exp(C.scores[0, 0]) + exp(C.scores[0, 1]))", "Q[2] @ K[0] / sqrt(2)",
           "-2 / sqrt(2 + 1e-5)", "(1 - 3) / sqrt(3 + 1e-5)", "sigmoid(2) - 1", "16x16x8", "(5, 7)", "()",
           "  h[0] / (1 - 0.5)", "grad(S.c)[0] * S.f[0]", "epoch(2).w", "2 * (yhat[1] - y[1]) / 4", "0.25 ** 5",
           "e", "e ** 2", "2*e", "ℯ ** 2", "exp(1) - e", "line", "ln(2)", "ln (2)", "x.ln(2)", "2^3", "e^2",
           "σ(2) − 1", "2·0.5", "√(4)", "−0.25", "[0.1, −0.2]", "5×7", "−e", "kernel(a, b=1)", "a[0:2, ::2]",
           # errors, located in the text as written
           "1 +", "sigmoid(2", "a = 1", "−", "σ(2) −", "lambda: 1", "x.__class__", "e^", "[1, 2", "2 ** ** 3",
           "grad(z) − (σ(2) − 1", "ℯ +"]


def _answer(text: str, loc, shape: bool):
    from nnlab.scenario import expr

    expr._PARSED.clear()
    try:
        return expr.parse_answer(text, loc, shape=shape)
    except NnlabError as exc:
        return ("error", exc.message, exc.loc, exc.hint)


@pytest.mark.parametrize("text", ANSWERS)
@pytest.mark.parametrize("shape", [False, True])
@pytest.mark.parametrize("at", [None, (3, 9)])
def test_an_answer_without_student_notation_skips_the_rewriting(text: str, shape: bool, at, monkeypatch) -> None:
    from nnlab.errors import Location
    from nnlab.scenario import expr

    loc = Location("t.yaml", *at, "  x: " + text, 1) if at else None
    fast = _answer(text, loc, shape)
    monkeypatch.setattr(expr, "_normalize", expr._replace_notation)  # every pattern, columns mapped back
    slow = _answer(text, loc, shape)
    if not (isinstance(slow, tuple) and slow[:1] == ("error",)):
        slow = expr._with_e(slow)  # e read as Euler's number everywhere
    assert fast == slow
    assert type(fast) is type(slow)


def test_a_filled_spec_holds_its_exact_value_in_every_element() -> None:
    from fractions import Fraction

    s = loads(HEAD + "values:\n  z: {shape: [2, 3]}\n  o: {shape: [4], init: ones, scale: 0.1}\n"
              "  u: {shape: [1, 2, 1], init: ones}\ncompute:\n  - y = z\n")
    assert s.values["z"].exact.shape == (2, 3) and s.values["z"].exact.tolist() == [[Fraction(0)] * 3] * 2
    assert s.values["o"].exact.tolist() == [Fraction(1, 10)] * 4 and s.values["o"].array.tolist() == [0.1] * 4
    assert s.values["u"].exact.dtype == object and s.values["u"].exact.tolist() == [[[Fraction(1)], [Fraction(1)]]]


@pytest.mark.parametrize("seed,shape,scale", [(0, [3], None), (1, [1024, 2], 0.5), (2, [64, 33], 0.03),
                                              (7, [2, 3, 4], -2), (123, [5], 0)])
def test_a_normal_spec_draws_what_rng_normal_draws(seed: int, shape: list[int], scale) -> None:
    spec = f"{{shape: {shape}, init: normal, seed: {seed}" + (f", scale: {scale}}}" if scale is not None else "}")
    got = loads(HEAD + f"values:\n  W: {spec}\ncompute:\n  - y = W\n").values["W"].array
    want = np.random.default_rng(seed).normal(size=shape)
    if scale is not None and scale != 1:
        want *= scale
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()  # bit for bit, signed zeros included


def test_adding_normals_loc_keeps_the_sign_of_zero_as_rng_normal_does() -> None:
    z = np.array([-0.0, 0.0, -1.5, 2.0])
    a = z.copy()
    a += 0.0
    assert a.tobytes() == (0.0 + 1.0 * z).tobytes()  # numpy's normal: loc + scale * z
    assert not np.signbit(a[0])


def test_the_default_memory_budget_is_read_once_from_the_environment(monkeypatch) -> None:
    limits.default_memory_budget.cache_clear()
    monkeypatch.setenv("NNLAB_MAX_MEMORY", "2G")
    try:
        assert limits.default_memory_budget() == 2 << 30
        assert limits.memory_budget() == 2 << 30
        monkeypatch.setenv("NNLAB_MAX_MEMORY", "1G")
        assert limits.default_memory_budget() == 2 << 30  # kept: read when first asked for
        limits.default_memory_budget.cache_clear()
        monkeypatch.delenv("NNLAB_MAX_MEMORY")
        assert limits.default_memory_budget() == min(limits._machine_memory() // 2, 8 << 30)
    finally:
        limits.default_memory_budget.cache_clear()

