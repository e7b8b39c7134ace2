"""Explanations of reductions stay small whatever the size (issue 18): the first terms are
written out, and the elements used are one box record (``Use.extent``) past EXPLICIT_USES;
small reductions keep one record per element and their exact text."""

import numpy as np

from nnlab.engine.ops.reduce import EXPLICIT_USES
from nnlab.engine.trace import Use
from nnlab.scenario import loads
from nnlab.session import session_from_scenario


def explain(values: str, line: str, ref: str):
    s = session_from_scenario(loads(f"nnlab: 1\ntitle: t\nvalues: {values}\ncompute:\n  - {line}\n"
                                    "options: {arithmetic: float}\n"))
    (_, ex), = s.explain_ref(ref)
    return s, ex


def test_a_small_sum_is_written_out_with_one_record_per_element():
    _, ex = explain("{x: [[1, -2, 3], [4, 5, 6]]}", "s = sum(x, axis=1)", "s[1]")
    assert ex.arithmetic == "4 + 5 + 6" and ex.value == 15
    assert ex.uses == (Use(0, (1, 0)), Use(0, (1, 1)), Use(0, (1, 2)))


def test_a_long_sum_shows_its_first_terms_and_reports_one_box():
    n = 1_000_000
    _, ex = explain(f"{{x: {{shape: [{n}], init: range}}}}", "s = sum(x)", "s")
    assert ex.arithmetic == " + ".join(str(i) for i in range(12)) + f" + … ({n - 12} more terms)"
    assert ex.value == n * (n - 1) / 2
    assert ex.uses == (Use(0, (0,), "used", (n,)),)
    assert ex.uses[0].covers((n - 1,)) and not ex.uses[0].covers((n,)) and ex.uses[0].size == n


def test_a_reduction_over_one_axis_reports_the_box_of_its_row_or_column():
    _, ex = explain("{x: {shape: [3, 5000], init: range}}", "m = mean(x, axis=1, keepdims=True)", "m[2, 0]")
    assert ex.uses == (Use(0, (2, 0), "used", (1, 5000)),)
    assert ex.arithmetic.startswith("(10000 + 10001 + ") and ex.arithmetic.endswith("(4988 more terms)) / 5000")
    _, ex = explain("{x: {shape: [5000, 2], init: range}}", "t = sum(x, axis=0)", "t[1]")
    assert ex.uses == (Use(0, (0, 1), "used", (5000, 1)),)
    assert list(ex.uses[0].cells())[:3] == [(0, 1), (1, 1), (2, 1)]


def test_max_and_min_over_a_long_vector_name_the_picked_element():
    n = EXPLICIT_USES * 3
    values = f"{{x: {{shape: [{n}], init: range}}}}"
    _, ex = explain(values, "m = max(x)", "m")
    assert ex.uses == (Use(0, (0,), "used", (n,)), Use(0, (n - 1,), "argmax"))
    assert ex.value == n - 1 and f"the maximum is element [{n - 1}]" in ex.note
    _, ex = explain(values, "m = min(x)", "m")
    assert ex.uses == (Use(0, (0,), "used", (n,)), Use(0, (0,), "argmax"))


def test_long_losses_show_their_first_terms_and_two_boxes():
    n = 10_000
    text = f"{{a: {{shape: [{n}], init: range}}, b: {{shape: [{n}], init: zeros}}}}"
    _, ex = explain(text, "l = mse(a, b)", "l")
    assert ex.uses == (Use(0, (0,), "used", (n,)), Use(1, (0,), "used", (n,)))
    assert ex.arithmetic.startswith("((0 − 0)² + (1 − 0)² + ") and f"… ({n - 12} more terms)) / {n}" in ex.arithmetic
    np.testing.assert_allclose(ex.value, np.mean(np.arange(n) ** 2.0))
    _, ex = explain("{z: {shape: [3000, 4], init: range}, t: {shape: [3000], init: zeros}}",
                    "l = cross_entropy(z, t, reduction='sum')", "l")
    assert ex.uses == (Use(0, (0, 0), "used", (3000, 4)), Use(1, (0,), "used", (3000,)))
    assert ex.arithmetic.count("−ln") == 12 and ex.arithmetic.endswith("(2988 more rows)")
