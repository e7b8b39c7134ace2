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
