"""Inputs a fuzzer found crashing nnlab with a traceback: each now gets a clean answer."""

import json
import os
import resource
import signal
import subprocess
import sys
import time

import pytest

from nnlab.cli import main

HEAD = "nnlab: 1\ntitle: t\n"
PERCEPTRON = HEAD + ("values: {w: [0], b: 0}\ndata:\n  x: [[1], [0]]\n  y: [1, 0]\nlearn: [w, b]\n"
                     "compute:\n  - yhat = step(w @ x + b)\n")

CASES = [
    # (scenario text, command, exit code, text the output must contain)
    (HEAD + "values: {x: 1}\ncompute:\n  - y = x / 0\n", "check", 2, "division by zero at step 1 (y = x / 0)"),
    (HEAD + "values: {x: 0}\ncompute:\n  - y = x ** 0\nbackward: y\nexpect:\n  grad(x): 0\n", "check", 0,
     "the answer matches"),
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
     "check", 0, "the answer matches"),
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


# --------------------------------------------------- issue 18: bounded work, never a traceback

MLP = HEAD + ("values: {w: [0.5], b: 0.1}\ndata:\n  x: [[1], [0]]\n  y: [1, 0]\nlearn: [w, b]\n"
              "compute:\n  - z = w @ x + b\n  - yhat = sigmoid(z)\n  - loss = bce(yhat, y)\n")
LIMIT_CASES = [
    (MLP + "train: {rule: gd, loss: loss, lr: 0.1, epochs: 100000000}\n", 2,
     "12:40: error: training would make up to 100,000,000 updates (100,000,000 epochs of 1), over the limit "
     "of 1,000,000"),
    (MLP + "train: {rule: gd, loss: loss, lr: 0.1, epochs: 20, batch: 1}\noptions: {max_updates: 10}\n", 2,
     "training would make up to 40 updates (20 epochs of 2), over the limit of 10"),
    (MLP + "train: {rule: gd, loss: loss, lr: 0.1, epochs: 5, batch: 1}\noptions: {max_updates: 10}\n", 0,
     "no expect"),
    (HEAD + "values: {x: 0.7}\ncompute:\n  - a = x ** 1000\n  - b = a ** 1000\n  - c = b ** 1000\nexpect:\n  c: 0\n",
     0, "(float64 (exact fractions passed 2,048 bits) arithmetic)"),
    (HEAD + "values: {x: 0.7}\ncompute:\n  - a = x ** 1000\n  - b = a ** 1000\noptions: {arithmetic: exact}\n", 2,
     "5:9: error: exact arithmetic: the numbers at step 1 (a = x ** 1000) grew past 2,048 bits"),
    (HEAD + "values: {x0: 0.3}\ncompute:\n" + "".join(f"  - x{i} = x{i - 1} * x{i - 1}\n" for i in range(1, 31))
     + "expect:\n  x1: 0.09\n", 0, "the answer matches"),
    (HEAD + "values: {x: [1, 12345678901234567890]}\ncompute:\n  - y = x + 1\n", 0, "no expect"),
    (HEAD + "values: {x: 1}\ncompute:\n  - y = x * 1e-999999999\n", 2,
     "5:13: error: the exponent of 1e-999999999 is beyond ±400"),
    (HEAD + "values:\n  x: {shape: [4294967296, 4294967296]}\ncompute:\n  - y = x + 1\n", 2,
     "'x' has 18,446,744,073,709,551,616 elements, over the limit of 50,000,000"),
    (HEAD + "values: {x: [1, 2]}\ncompute:\n  - y = x + 1\ntolerance: {abs: x}\n", 2,
     "6:18: error: tolerance abs must be a number ≥ 0, got 'x'"),
    (HEAD + "values: {x: [1, 2]}\ncompute:\n  - y = x + 1\nexpect:\n  y: {value: [2, 3], rel: [1]}\n", 2,
     "rel must be a number ≥ 0, got a list"),
    (HEAD + "values: {x: " + "[" * 40 + "1" + "]" * 40 + "}\ncompute:\n  - y = x + 1\n", 2,
     "'x' has 40 dimensions, more than the 16 nnlab supports"),
    (HEAD + "values: {x: 1}\ncompute:\n  - y = " + " + ".join(["x"] * 800) + "\n", 2,
     "5:8: error: this line nests too deeply for nnlab to follow"),
]


@pytest.mark.parametrize("text, code, needle", LIMIT_CASES)
def test_limits_give_located_errors_or_fall_back(tmp_path, capsys, text, code, needle):
    f = tmp_path / "s.yaml"
    f.write_text(text)
    got = main(["check", str(f)])
    out = capsys.readouterr()
    assert got == code, out
    assert needle in out.out + out.err
    assert "Traceback" not in out.err


def test_unforeseen_exceptions_become_one_line_errors(tmp_path, capsys, monkeypatch):
    import nnlab.cli

    f = tmp_path / "s.yaml"
    f.write_text(HEAD + "values: {x: 1}\ncompute:\n  - y = x + 1\n")
    for exc, needle in ((MemoryError(), "out of memory: this needs more than the memory budget"),
                        (RecursionError(), "nests too deeply"),
                        (KeyError("boom"), "nnlab failed on this input (KeyError: 'boom'); this is a bug in nnlab")):
        def broken(*args, exc=exc):
            raise exc

        monkeypatch.setattr(nnlab.cli, "_load_and_run", broken)
        for argv in (["check", str(f)], ["run", "--json", str(f)], ["validate", str(f), str(f)]):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert f"{f}: error: " in err and needle in err and "Traceback" not in err
    monkeypatch.setattr(nnlab.cli, "_load_and_run", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert main(["check", str(f)]) == 130


def _nnlab(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "nnlab", *args], capture_output=True, text=True, timeout=60,
                          **kwargs)


def test_new_into_a_missing_directory_is_a_clean_error(tmp_path):
    done = _nnlab("new", "backprop", str(tmp_path / "missing" / "x.yaml"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "the directory" in done.stderr and "does not exist" in done.stderr


def test_output_to_a_full_disk_is_a_clean_error():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    for args in (["list"], ["schema"], ["run", "--json", "scenarios/neuron-forward.yaml"]):
        with open("/dev/full", "w") as full:
            done = subprocess.run([sys.executable, "-m", "nnlab", *args], stdout=full, stderr=subprocess.PIPE,
                                  text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip() == "error: cannot write the output: No space left on device"


def test_the_lab_without_a_terminal_says_so_and_exits(tmp_path):
    done = _nnlab("scenarios/neuron-forward.yaml", stdin=-3)  # DEVNULL: not a terminal
    assert done.returncode == 2
    assert "the lab needs a terminal" in done.stderr and "nnlab check" in done.stderr


def test_ctrl_c_ends_a_command_at_once(tmp_path):
    f = tmp_path / "slow.yaml"
    f.write_text(HEAD + "values:\n  A: {shape: [1000, 1000], init: normal, scale: 0.03}\ncompute:\n  - B0 = A\n"
                 + "".join(f"  - B{i} = B{i - 1} @ A\n" for i in range(1, 100)))
    proc = subprocess.Popen([sys.executable, "-m", "nnlab", "check", str(f)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    time.sleep(1.5)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert time.monotonic() - sent < 1.0
    assert proc.returncode in (130, -signal.SIGINT)  # a shell reports both as 130
    assert "Traceback" not in err


def test_memory_errors_under_a_hard_limit_are_clean(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text(HEAD + "values:\n  x: {shape: [7000, 7000]}\ncompute:\n  - y = x + 1\n  - z = y * y\n"
                 "  - w = z + y\n  - v = w * z\n")

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (1200 << 20, 1200 << 20))

    done = subprocess.run([sys.executable, "-m", "nnlab", "check", "--max-memory", "64G", str(f)],
                          capture_output=True, text=True, timeout=120, preexec_fn=limit,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert done.returncode == 2, done.stderr
    assert "out of memory" in done.stderr and "Traceback" not in done.stderr
