"""A forward element's long sum is written as its first terms and ``… (N more terms)`` (issue 12)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnlab.engine import explain as E
from nnlab.engine.explain import MAX_TERMS, elide_sum
from nnlab.session import open_session

ROOT = Path(__file__).resolve().parents[2]


def test_short_sums_and_other_shapes_unchanged():
    short = " + ".join(f"{i}×2" for i in range(MAX_TERMS))
    assert elide_sum(short) == short
    quotient = "(" + " + ".join("1" for _ in range(40)) + ")/(" + " + ".join("2" for _ in range(40)) + ")"
    assert elide_sum(quotient) == quotient
    negatives = " + ".join("(-1)×(-2)" for _ in range(10))
    assert elide_sum(negatives) == negatives


def test_flat_sum_keeps_the_first_terms_and_counts_the_rest():
    text = " + ".join(f"{i}×2" for i in range(30))
    assert elide_sum(text) == " + ".join(f"{i}×2" for i in range(12)) + " + … (18 more terms)"


def test_channel_groups_count_their_terms_and_the_cut_closes_the_group():
    a = "(" + " + ".join(f"a{i}" for i in range(5)) + ")"
    b = "(" + " + ".join(f"b{i}" for i in range(30)) + ")"
    assert elide_sum(f"{a} + {b} + 7") == f"{a} + (b0 + b1 + b2 + b3 + b4 + b5 + b6) + … (24 more terms)"


def test_alexnet_size_conv_element_is_short_and_its_value_unchanged():
    session = open_session(str(ROOT / "scenarios" / "conv-alexnet-params.yaml"))
    step = session.steps[0]
    ex = E.explain(session.run, step, (3, 1, 2))
    assert ex.arithmetic.endswith("… (352 more terms)")  # 3·11·11 products and the bias, 12 written
    assert ex.arithmetic.count("×") == 12
    assert len(ex.arithmetic) < 400
    y = session.run.values["Y"][0] if session.run.values["Y"].ndim == 4 else session.run.values["Y"]
    assert ex.value == pytest.approx(float(np.asarray(y)[(3, 1, 2)]))
    # every window cell and weight is still highlighted, not only the written terms
    assert sum(u.slot == 0 for u in ex.uses) == 363 and sum(u.slot == 1 for u in ex.uses) == 363
