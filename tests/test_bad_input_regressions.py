"""Inputs a fuzzer found crashing nnlab with a traceback: each now gets a clean answer."""

import json

import pytest

from nnlab.cli import main

HEAD = "nnlab: 1\ntitle: t\n"
PERCEPTRON = HEAD + ("values: {w: [0], b: 0}\ndata:\n  x: [[1], [0]]\n  y: [1, 0]\nlearn: [w, b]\n"
                     "compute:\n  - yhat = step(w @ x + b)\n")

CASES = [
    # (scenario text, command, exit code, text the output must contain)
    (HEAD + "values: {x: 1}\ncompute:\n  - y = x / 0\n", "check", 2, "division by zero at step 1 (y = x / 0)"),
    (HEAD + "values: {x: 0}\ncompute:\n  - y = x ** 0\nbackward: y\nexpect:\n  grad(x): 0\n", "check", 0,
     "all 1 answers match"),
    (HEAD + "values: {x: 1e308}\ncompute:\n  - y = x * 10\nexpect:\n  y: 1\n", "check", 1, "inf"),
    (HEAD + "values: {x: 1e308}\ncompute:\n  - y = x * 10\n", "run --json", 0, '"inf"'),
    (HEAD + "values: {x: 1.1}\ncompute:\n  - y = x ** 10000000\n", "check", 2, "step 1"),
    (HEAD + "values: {x: 2}\ncompute:\n  - y = x + 1\nexpect:\n  'x ** 10000': 1\n", "check", 1, "inf"),
    (HEAD + "values: {x: 2}\ncompute:\n  - y = x + 1\nexpect:\n  'log(x - 2)': 1\n", "check", 1, "-inf"),
    (HEAD + "values: {x: .nan}\ncompute:\n  - y = x + 1\n", "check", 2, "'x' holds .nan, which is not a finite"),
    (HEAD + "values: {x: [1, .inf]}\ncompute:\n  - y = x + 1\n", "check", 2, "3:17"),
    (HEAD + "values:\n  x: {shape: [2], init: normal, seed: -1}\ncompute:\n  - y = x + 1\n", "check", 2,
     "seed of 'x' must be a whole number"),
    (HEAD + "values:\n  x: {shape: [2], init: normal, seed: 2.5}\ncompute:\n  - y = x + 1\n", "check", 2,
     "seed of 'x' must be a whole number"),
    (PERCEPTRON + "train: {rule: perceptron, predict: yhat, target: y, lr: .inf, epochs: 5}\n", "check", 2,
     "train.lr must be a positive finite number"),
    (PERCEPTRON + "train: {rule: perceptron, predict: yhat, target: y, lr: 1, seed: x}\n", "check", 2,
     "train.seed must be a whole number"),
    (HEAD + "values: {x: [1, 2]}\ncompute:\n  - y = softmax(x, axis=None)\n", "check", 2,
     "axis must be a whole number in 'softmax', got None"),
    (HEAD + "values: {x: [1, 2]}\ncompute:\n  - y = sum(x, axis='a')\n", "check", 2, "axis must be a whole number"),
    (HEAD + "values: {x: [[1, 2]]}\ncompute:\n  - y = transpose(x, axes=1)\n", "check", 2, "axes must be a list"),
    (HEAD + "values: {x: [1, 2]}\ncompute:\n  - y = x + 1\nexpect:\n  reshape(y): [2, 3]\n", "check", 1,
     "reshape() needs shape="),
    (HEAD + "values: {x: [1, 2]}\ncompute:\n  - y = x + 1\nexpect:\n  \"softmax(y, axis='a')\": [2, 3]\n", "check",
     1, "axis must be a whole number"),
    (HEAD + "values: {x: [[1, 2], [3, 4]]}\ncompute:\n  - y = x + 1\nexpect:\n  'sum(y, axis=[0, 1])': 14\n",
     "check", 0, "all 1 answers match"),
    (PERCEPTRON + "train: {rule: perceptron, predict: yhat, target: y, lr: 1}\nexpect:\n"
     "  epoch(1).update(2).w: [1]\n", "check", 1, "one prefix"),
    # found by a review of the fixes above
    (HEAD + "values: {x: [[1, 2], [3, 4]]}\ncompute:\n  - y = sum(x, axis=1.0)\n  - t = transpose(x, axes=[1.0, 0])\n"
     "expect:\n  y: [3, 7]\n  t: [[1, 3], [2, 4]]\n", "check", 0, "all 2 answers match"),
    (HEAD + "values: {x: [[1, 2]]}\ncompute:\n  - y = transpose(x, axes=[3, 0])\n", "check", 2,
     "axes [3, 0] name an axis"),
    (PERCEPTRON + "train: {rule: perceptron, predict: yhat, target: y, lr: 1" + "0" * 400 + "}\n", "check", 2,
     "a number with 401 digits; nnlab reads numbers of at most 100 digits"),
    (PERCEPTRON + "train: {rule: perceptron, predict: yhat, target: y, lr: 1e309}\n", "check", 2,
     "train.lr must be a positive finite number"),
    (HEAD + "values:\n  x: {shape: [2], init: ones, scale: 1" + "0" * 400 + "}\ncompute:\n  - y = x + 1\n",
     "check", 2, "4:38: error: a number with 401 digits"),
    (PERCEPTRON + "train: {rule: perceptron, predict: yhat, target: y, lr: 1, seed: 3.0}\n", "check", 0,
     "no expect"),
    (HEAD + "values: {x: 2}\ncompute:\n  - y = x ** 90\nexpect:\n  y: 1237940039285380274899124224\n",
     "check", 0, "1237940039285380274899124224"),
]


@pytest.mark.parametrize("text, command, code, needle", CASES)
def test_bad_input_gets_a_clean_answer(tmp_path, capsys, text, command, code, needle):
    f = tmp_path / "s.yaml"
    f.write_text(text)
    args = command.split()
    got = main([args[0], str(f), *args[1:]])
    out = capsys.readouterr()
    assert got == code, out
    assert needle in out.out + out.err
    if "--json" in args:
        json.loads(out.out)  # valid JSON: no Infinity/NaN


def test_check_table_formats_only_what_it_shows(tmp_path, capsys):
    f = tmp_path / "big.yaml"
    f.write_text(HEAD + "values:\n  x: {shape: [1500, 1500], init: range}\ncompute:\n  - y = x * 2\n"
                 "expect:\n  y: 0\n")
    assert main(["check", str(f)]) == 1
    out = capsys.readouterr().out
    assert "[0, 2, 4, 6, 8, 10, 12, 14, …] shape [1500, 1500]" in out


def test_exact_errors_during_training_name_the_failing_step(tmp_path, capsys):
    f = tmp_path / "t.yaml"
    f.write_text("nnlab: 1\ntitle: t\nvalues: {w: [1], b: 0}\ndata:\n  x: [[1], [0]]\n  y: [1, 0]\n"
                 "learn: [w, b]\ncompute:\n  - z = w @ x + b\n  - q = z / x[0]\n  - yhat = step(q)\n"
                 "train: {rule: perceptron, predict: yhat, target: y, lr: 1}\n")
    assert main(["check", str(f)]) == 2
    err = capsys.readouterr().err
    assert "division by zero at step 3 (q = z / x[0])" in err   # step 2 is x[0]


def test_explain_takes_an_example_index_with_one_example(tmp_path, capsys):
    f = tmp_path / "one.yaml"
    f.write_text("nnlab: 1\ntitle: t\nvalues: {w: [2]}\ndata:\n  x: [[3]]\ncompute:\n  - y = w @ x\n")
    assert main(["explain", str(f), "y[0]"]) == 0
    assert "y = 2×3 = 6" in capsys.readouterr().out


def test_exact_values_beyond_float_range_print_in_scientific_notation():
    from fractions import Fraction

    from nnlab.numfmt import fmt

    assert fmt(Fraction(21, 2) ** 1000) == "1.5463e+1021"   # log10(10.5) × 1000 = 1021.189
    assert fmt(-Fraction(10) ** 400, 2) == "-1.00e+400"
    assert fmt(Fraction(2) ** 90) == "1237940039285380274899124224"
