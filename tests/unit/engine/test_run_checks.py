"""The run's nan/inf check: small arrays are checked together by one sum, and a sum that is not
finite only sends the engine to search each array, so the error names the step that made the
first nan or inf, and huge finite numbers are no error."""

import numpy as np
import pytest

from nnlab.errors import NnlabError
from tests.helpers import run_yaml


def test_huge_finite_numbers_whose_sum_overflows_are_no_error():
    run = run_yaml("""
        nnlab: 1
        title: huge
        values: {a: [1.0e308, 1.0], b: [1.5e308, 2.0]}
        compute:
          - p = a * 1.5
          - q = b * 1
          - s = sum(q - p)
        backward: s
        """)
    assert run.value("s") == pytest.approx(-3.0 + 0.0, abs=1e292) and np.isfinite(run.value("p")).all()
    assert run.grad("a").tolist() == [-1.5, -1.5] and run.grad("b").tolist() == [1.0, 1.0]


def test_nan_in_a_gradient_is_named_at_its_backward_step():
    with pytest.raises(NnlabError) as info:
        run_yaml("""
            nnlab: 1
            title: inf gradient
            values: {x: [4.0, 0.0]}
            compute:
              - y = sqrt(x)
              - s = sum(y)
            backward: s
            """)
    assert info.value.message == "the gradient into x becomes nan/inf at the backward step of y = sqrt(x)"


def test_a_forward_nan_is_named_before_a_gradient_inf():
    with pytest.raises(NnlabError) as info:
        run_yaml("""
            nnlab: 1
            title: nan first
            values: {x: [4.0, 0.0], z: [-1.0, 1.0]}
            compute:
              - y = sqrt(x)
              - w = log(z)
              - s = sum(y) + sum(w)
            backward: s
            """)
    assert info.value.message.startswith("nan appears at step 2 (w = log(z)), element w[0]")


@pytest.mark.parametrize("examples", [1, 3, 40])
def test_a_nan_in_a_batch_is_found_whatever_the_array_sizes(examples):
    rows = [[1.0, 2.0]] * examples
    rows[-1] = [1.0, -2.0]
    with pytest.raises(NnlabError) as info:
        run_yaml(f"""
            nnlab: 1
            title: batch
            values: {{w: [0.5, 0.25]}}
            data: {{x: {rows}}}
            compute:
              - z = x * w
              - r = log(z)
              - s = sum(r)
            backward: s
            """)
    assert info.value.message.startswith("nan appears at step 2 (r = log(z)), element r[1]")
