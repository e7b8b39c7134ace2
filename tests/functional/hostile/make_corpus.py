"""Write the hostile-input corpus: scenario files a classmate or the internet could send.

Run ``python tests/functional/hostile/make_corpus.py`` to (re)write ``tests/functional/hostile/corpus/``; the
files are committed, so the corpus test needs no generator at run time. Families grow
from issue 18's reliability probe: alias bombs under every key, recursion (long sums,
unary-minus chains, deep lists), huge integers and exponents, shapes whose size wraps,
exact fractions that explode, training that never ends, code-execution payloads,
memory-hungry shapes, and plain malformed YAML. Each file must end in exit 0, 1 or 2
with a located error or a one-line reason — never a traceback, a hang or a memory blow-up.
"""

from __future__ import annotations

import shutil
from pathlib import Path

OUT = Path(__file__).resolve().parent / "corpus"

HEAD = "nnlab: 1\ntitle: hostile\n"
SIMPLE = HEAD + "values:\n  x: [1, 2]\n  w: [0.5, -0.25]\ncompute:\n  - y = w @ x\nbackward: y\nexpect:\n  y: 0\n"
TRAIN = HEAD + ("values: {w: [0], b: 0}\ndata:\n  x: [[1], [0]]\n  y: [1, 0]\nlearn: [w, b]\n"
                "compute:\n  - yhat = step(w @ x + b)\n")
GD = HEAD + ("values: {w: [0.5], b: 0.1}\ndata:\n  x: [[1], [0]]\n  y: [1, 0]\nlearn: [w, b]\n"
             "compute:\n  - z = w @ x + b\n  - yhat = sigmoid(z)\n  - loss = bce(yhat, y)\n")

# Places a hostile value can sit, as templates with one {V} (a flow value, one line).
POSITIONS = {
    "values": HEAD + "values:\n  x: {V}\ncompute:\n  - y = x + 1\n",
    "values-list": HEAD + "values:\n  x: [1, {V}]\ncompute:\n  - y = x + 1\n",
    "data": HEAD + "data:\n  x: {V}\ncompute:\n  - y = x + 1\n",
    "expect": SIMPLE.replace("  y: 0\n", "  y: {V}\n"),
    "expect-value": SIMPLE.replace("  y: 0\n", "  y: {{value: {V}}}\n"),
    "expect-abs": SIMPLE.replace("  y: 0\n", "  y: {{value: 0, abs: {V}}}\n"),
    "tolerance": SIMPLE + "tolerance: {{abs: {V}}}\n",
    "options": SIMPLE + "options: {{step_at_zero: {V}}}\n",
    "title": "nnlab: 1\ntitle: {V}\ncompute:\n  - y = 1 + 1\n",
    "unknown-key": SIMPLE + "zzz: {V}\n",
    "about": SIMPLE + "about: {V}\n",
    "train-lr": TRAIN + "train: {{rule: perceptron, predict: yhat, target: y, lr: {V}, epochs: 2}}\n",
    "train-epochs": TRAIN + "train: {{rule: perceptron, predict: yhat, target: y, lr: 1, epochs: {V}}}\n",
    "train-seed": TRAIN + "train: {{rule: perceptron, predict: yhat, target: y, lr: 1, seed: {V}}}\n",
    "spec-shape": HEAD + "values:\n  x: {{shape: {V}}}\ncompute:\n  - y = x + 1\n",
    "spec-scale": HEAD + "values:\n  x: {{shape: [2], init: ones, scale: {V}}}\ncompute:\n  - y = x + 1\n",
    "nnlab": "nnlab: {V}\ntitle: t\ncompute:\n  - y = 1 + 1\n",
    "learn": SIMPLE + "learn: {V}\n",
    "backward": SIMPLE.replace("backward: y", "backward: {V}"),
}


def at(position: str, value: str) -> str:
    return POSITIONS[position].replace("{V}", value).replace("{{", "{").replace("}}", "}")


def laughs(levels: int, width: int = 9) -> tuple[str, str]:
    """Anchors ``a0 … aN``, each a list of ``width`` aliases of the one before (a billion laughs)."""
    lines = ["bomb0: &a0 [lol]"]
    for i in range(1, levels + 1):
        lines.append(f"bomb{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines), f"*a{levels}"


def corpus() -> dict[str, str]:
    """Every hostile file: name → text."""
    files: dict[str, str] = {}

    def add(name: str, text: str | bytes) -> None:
        assert name not in files, name
        files[name] = text

    # ---- alias bombs under any key, and alias oddities
    defs, alias = laughs(9)
    for key in ("values", "data", "expect", "options", "train", "tolerance", "compute", "zzz", "about", "learn"):
        body = "\n".join("  " + line for line in defs.splitlines())
        add(f"laughs-under-{key}", HEAD + f"{key}:\n{body}\n  top: {alias}\ncompute:\n  - y = 1 + 1\n"
            if key != "compute" else HEAD + f"values:\n{body}\ncompute:\n  - {alias}\n")
        add(f"laughs-flow-{key}", HEAD + f"{key}: " + "{" + ", ".join(
            f"k{i}: &b{i} [" + (", ".join([f"*b{i - 1}"] * 9) if i else "1") + "]" for i in range(9)) + "}\n"
            "compute:\n  - y = 1 + 1\n")
    for levels, width in ((4, 10), (5, 10), (6, 10), (20, 2), (30, 2), (3, 1000)):
        d, a = laughs(levels, width)
        add(f"laughs-{levels}x{width}", HEAD + "values:\n" + "\n".join("  " + ln for ln in d.splitlines())
            + f"\n  x: {a}\ncompute:\n  - y = x + 1\n")
    add("laughs-top-level", "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "\n".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]" for i in range(8)) + "\n")
    add("laughs-map-values", HEAD + "x0: &m0 {a: 1, b: 2}\n" + "".join(
        f"x{i}: &m{i} {{a: *m{i - 1}, b: *m{i - 1}, c: *m{i - 1}, d: *m{i - 1}}}\n" for i in range(1, 14)))
    for place, text in {
        "seq": "x: &a [1, *a]\n", "map": "x: &a {b: *a}\n", "values": "values:\n  x: &a [1, *a]\n",
        "expect": "expect:\n  y: &a [*a]\n", "deep": "x: &a [[[[*a]]]]\n", "options": "options: &a {o: *a}\n",
        "two-way": "x: &a [&b [*a, *b]]\n", "train": "train: &a {rule: gd, lr: *a}\n",
    }.items():
        add(f"alias-recursive-{place}", HEAD + text + "compute:\n  - y = 1 + 1\n")
    add("alias-undefined", HEAD + "values: {x: *nope}\ncompute:\n  - y = x\n")
    add("alias-duplicate-anchor", HEAD + "values: {x: &a 1, w: &a 2}\ncompute:\n  - y = x\n")
    add("alias-as-key", HEAD + "values: {&k x: 1, *k : 2}\ncompute:\n  - y = x\n")
    add("alias-small-ok", HEAD + "values:\n  x: &row [1, 2]\n  w: *row\ncompute:\n  - y = w @ x\n")
    add("merge-key", HEAD + "base: &b {x: 1}\nvalues:\n  <<: *b\ncompute:\n  - y = x\n")
    add("anchor-on-root", "&root\nnnlab: 1\ntitle: t\ncompute:\n  - y = 1 + 1\n")

    # ---- recursion: long sums, minus chains, parentheses, deep lists
    for n in (300, 500, 800, 10000):
        add(f"sum-{n}-terms-compute", HEAD + "values: {x: 1}\ncompute:\n  - y = " + " + ".join(["x"] * n) + "\n")
        add(f"sum-{n}-terms-expect", SIMPLE.replace("  y: 0\n", "  '" + " + ".join(["y"] * n) + "': 0\n"))
    for n in (500, 1000, 5000):
        add(f"minus-chain-{n}-compute", HEAD + "values: {x: 1}\ncompute:\n  - y = " + "-" * n + "x\n")
        add(f"minus-chain-{n}-expect", SIMPLE.replace("  y: 0\n", "  '" + "-" * n + "y': 0\n"))
        add(f"parens-{n}-compute", HEAD + "values: {x: 1}\ncompute:\n  - y = " + "(" * n + "x" + ")" * n + "\n")
        add(f"calls-{n}-compute", HEAD + "values: {x: 1}\ncompute:\n  - y = " + "relu(" * n + "x" + ")" * n + "\n")
    add("minus-chain-answer", SIMPLE.replace("  y: 0\n", "  y: '" + "-" * 2000 + "1'\n"))
    add("product-800", HEAD + "values: {x: 1}\ncompute:\n  - y = " + " * ".join(["x"] * 800) + "\n")
    add("power-tower-300", HEAD + "values: {x: 1}\ncompute:\n  - y = " + " ** ".join(["x"] * 300) + "\n")
    add("index-chain-200", HEAD + "values: {x: [1]}\ncompute:\n  - y = x" + "[0:1]" * 200 + "\n")
    add("many-lines-2000", HEAD + "values: {x: 1}\ncompute:\n  - y0 = x + 1\n" + "".join(
        f"  - y{i} = y{i - 1} + 1\n" for i in range(1, 2000)))
    for depth in (32, 33, 40, 64, 65, 100, 1000, 5000):
        nest = "[" * depth + "1" + "]" * depth
        add(f"nested-list-{depth}-values", HEAD + f"values:\n  x: {nest}\ncompute:\n  - y = x + 1\n")
        if depth in (33, 100, 5000):
            add(f"nested-list-{depth}-data", HEAD + f"data:\n  x: [{nest}]\ncompute:\n  - y = x + 1\n")
            add(f"nested-list-{depth}-expect", SIMPLE.replace("  y: 0\n", f"  y: {nest}\n"))
            add(f"nested-list-{depth}-options", SIMPLE + f"options: {{step_at_zero: {nest}}}\n")
            add(f"nested-list-{depth}-unknown", SIMPLE + f"zzz: {nest}\n")
    add("nested-map-1000", HEAD + "values: " + "{a: " * 1000 + "1" + "}" * 1000 + "\ncompute:\n  - y = 1 + 1\n")
    add("nested-block-200", HEAD + "values:\n" + "".join("  " * (i + 1) + f"g{i}:\n" for i in range(200))
        + "  " * 201 + "x: 1\ncompute:\n  - y = 1 + 1\n")

    # ---- huge integers and exponents, in every position
    big20, big5000 = "12345678901234567890", "9" * 5000
    for value, label in ((big20, "int20"), ("-" + big20, "negint20"), (big5000, "int5000"),
                         ("1e-999999999", "exp-tiny"), ("1e999999999", "exp-huge"), ("1.0e+400", "exp400"),
                         ("0." + "0" * 5000 + "1", "long-decimal"), ("1" + "0" * 400 + ".5", "float400"),
                         (".inf", "inf"), (".nan", "nan"), ("1_000_000_000_000_000_000_000", "underscored")):
        everywhere = label in ("int20", "int5000", "exp-tiny", "exp-huge")
        for position in POSITIONS if everywhere else ("values", "values-list", "expect", "tolerance", "train-lr",
                                                      "train-epochs", "spec-shape", "spec-scale", "options"):
            add(f"{label}-in-{position}", at(position, value))
    add("int20-in-list-row", HEAD + f"values:\n  x: [[1, {big20}], [2, 3]]\ncompute:\n  - y = x + 1\n")
    add("int20-in-compute", HEAD + f"values: {{x: 1}}\ncompute:\n  - y = x + {big20}\n")
    add("int5000-in-compute", HEAD + f"values: {{x: 1}}\ncompute:\n  - y = x * {big5000}\n")
    add("exp-huge-in-compute", HEAD + "values: {x: 1}\ncompute:\n  - y = x * 1e999999999\n")
    add("exp-tiny-in-compute", HEAD + "values: {x: 1}\ncompute:\n  - y = x * 1e-999999999\n")
    add("int5000-in-expect-ref", SIMPLE.replace("  y: 0\n", f"  y[{big5000}]: 0\n"))
    add("int20-in-expect-index", SIMPLE.replace("  y: 0\n", f"  'x[{big20}]': 0\n"))
    add("exp-tiny-in-expect-expr", SIMPLE.replace("  y: 0\n", "  y: 'y * 1e-999999999'\n"))

    # ---- shapes whose size wraps, or that are simply too big
    for shape in ("[4294967296, 4294967296]", "[4611686018427387904, 4]", "[9223372036854775807, 2]",
                  "[18446744073709551616]", "[0]", "[-1, 2]", "[1.5]", "[]", "[[2]]", "['a']", "true",
                  "[65536, 65536, 65536, 65536]", "[2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, "
                  "2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]", "[" + ", ".join(["1"] * 100) + "]",
                  "[50000001]", "[100000, 100000]", "[7000, 7000]"):
        add(f"shape-{len(files):03d}", HEAD + f"values:\n  x: {{shape: {shape}, init: normal}}\n"
            "compute:\n  - y = x + 1\n")
    add("shape-data-wrap", HEAD + "data:\n  x: {shape: [4294967296, 4294967296]}\ncompute:\n  - y = x + 1\n")
    add("shape-range-exact-big", HEAD + "values:\n  x: {shape: [20000], init: range}\ncompute:\n  - y = x * x\n")

    # ---- tolerance and expect oddities
    for tol in ("{abs: x}", "{abs: [1, 2]}", "{abs: -1}", "{rel: .nan}", "{abs: {a: 1}}", "5", "[1, 2]",
                "{abs: null}", "{abs: true}", "{abs: '1'}", "{}", "{abs: 1, zz: 2}", "{rel: 1e999999999}"):
        add(f"tolerance-{len(files):03d}", SIMPLE + f"tolerance: {tol}\n")
    for ans in ("'abc'", "[1, [2]]", "[[1, 2], [3]]", "[]", "[[]]", "{}", "{value: }", "{abs: 1}",
                "{value: 1, abs: x}", "{value: 1, rel: [1]}", "{value: [1, x]}", "null", "true", "[true, 1]",
                "'y +'", "'import os'", "'__import__(\"os\")'", "'y.__class__'", "'lambda: 1'", "[1, 'a']",
                "{value: {value: 1}}", "!!binary aGVsbG8=", "!!set {a, b}", "'[1, 2]'", "'y[::0]'",
                "'y[0:0]'", "'reshape(y, shape=[" + ", ".join(["1"] * 100) + "])'", "'ones(9999999999)'"):
        add(f"answer-{len(files):03d}", SIMPLE.replace("  y: 0\n", f"  y: {ans}\n"))
    for ref in ("'[1, 2]'", "'\"s\"'", "'y[::0]'", "'x[::0]'", "'x[::-1]'", "'x[5:1]'", "'x[99999999999999999999]'",
                "'x[1, 2, 3]'", "'x[\"a\"]'", "'grad(grad(y))'", "'grad(1)'", "'epoch(1).y'",
                "'epoch(99999999999999999999).y'", "'update(-1).y'", "'shape(y)'", "'shape(shape(y))'",
                "'train.epochs'", "'x.T.T.T'", "'reshape(x, shape=[" + ", ".join(["1"] * 100) + "])'",
                "'reshape(x, shape=[-1, -1])'", "'sum(x, axis=99)'", "'softmax(x, axis=" + big20 + ")'",
                "'[[1, 2], [3]]'", "'x @ x @ x @ x'", "'ones(shape=[100000, 100000])'", "'x ** 1e9'",
                "'2 ** 99999999'", "'1e308 * 1e308'", "'(x, x)'", "'{1: 2}'", "'x if x else x'", "'x.__dict__'",
                "'x[None]'", "'x[...]'", "'x[1:2:3:4]'", "'conv2d(x, x)'", "? [1, 2]", "? {a: 1}", "null",
                "1", "true"):
        add(f"expect-ref-{len(files):03d}", SIMPLE.replace("  y: 0\n", f"  {ref}: 1\n"))

    # ---- slices and reshapes in compute
    for line in ("y = x[::0]", "y = x[::-1]", "y = x[5:1]", "y = x[0:0]", "y = x[" + big20 + "]",
                 "y = x[:, :, :]", "y = x[1.5]", "y = x['a']", "y = reshape(x, shape=[" + ", ".join(["1"] * 100)
                 + "])", "y = reshape(x, shape=[" + ", ".join(["1"] * 33) + ", 2])", "y = reshape(x, shape=[-1, -1])",
                 "y = reshape(x, shape=[4294967296, 4294967296, 0])", "y = reshape(x, shape=[" + big20 + "])",
                 "y = reshape(x, shape=[0, 2])", "y = reshape(x, shape='a')", "y = transpose(x, axes=[0] * 40)",
                 "y = sum(x, axis=" + big5000[:50] + ")", "y = softmax(x, axis=-99)", "y = x.T.T.T.T",
                 "y = conv2d(x, x)", "y = maxpool2d(x, size=0)", "y = maxpool2d(x, size=" + big20 + ")",
                 "y = x ** 1e9", "y = x ** -1e9", "y = 2 ** 99999999", "y = x ** x ** x ** x ** x",
                 "y = x / 0", "y = log(0 * x)", "y = x @ x @ x", "y = sum(x, axis=[0, 0])"):
        add(f"compute-{len(files):03d}", HEAD + "values:\n  x: [1, 2]\ncompute:\n  - " + line + "\n")

    # ---- exact fractions that explode
    add("exact-pow-chain", HEAD + "values: {x: 0.7}\ncompute:\n  - a = x ** 1000\n  - b = a ** 1000\n"
        "  - c = b ** 1000\n")
    add("exact-pow-chain-exact", HEAD + "values: {x: 0.7}\ncompute:\n  - a = x ** 1000\n  - b = a ** 1000\n"
        "  - c = b ** 1000\noptions: {arithmetic: exact}\n")
    add("exact-pow-chain-backward", HEAD + "values: {x: 0.7}\ncompute:\n  - a = x ** 1000\n  - b = a ** 1000\n"
        "  - c = b ** 1000\nbackward: c\nexpect:\n  grad(x): 0\n")
    for n in (20, 30, 40):
        add(f"exact-squaring-{n}", HEAD + "values: {x0: 0.3}\ncompute:\n" + "".join(
            f"  - x{i} = x{i - 1} * x{i - 1}\n" for i in range(1, n + 1)) + "expect:\n  x1: 0.09\n")
    add("exact-squaring-30-exact", HEAD + "values: {x0: 0.3}\ncompute:\n" + "".join(
        f"  - x{i} = x{i - 1} * x{i - 1}\n" for i in range(1, 31)) + "options: {arithmetic: exact}\n")
    add("exact-squaring-30-backward", HEAD + "values: {x0: 0.3}\ncompute:\n" + "".join(
        f"  - x{i} = x{i - 1} * x{i - 1}\n" for i in range(1, 31)) + "backward: x30\n")
    add("exact-sum-of-fractions", HEAD + "values: {x: [0.3, 0.7, 0.11, 0.13]}\ncompute:\n" + "".join(
        f"  - y{i} = x / {i + 7}\n" for i in range(40))
        + "  - s = " + " + ".join(f"sum(y{i})" for i in range(40)) + "\n")
    add("exact-expect-pow", SIMPLE.replace("  y: 0\n", "  'y ** 1000 ** 1000': 0\n  '(x ** 1000) ** 1000': 0\n"))
    add("exact-matmul-chain", HEAD + "values:\n  A: {shape: [100, 100], init: range, scale: 0.001}\ncompute:\n"
        + "  - B1 = A @ A\n" + "".join(f"  - B{i} = B{i - 1} @ B{i - 1}\n" for i in range(2, 8)))

    # ---- training that never ends (or never starts)
    for epochs in ("1e8", "100000000", "1000000000000", big20, "-1", "0", "1.5", "'x'", "[1]", ".inf", "true",
                   "1e-999999999"):
        add(f"train-epochs-{len(files):03d}", at("train-epochs", epochs))
    for extra in ("batch: 0", "batch: -1", "batch: 1e8", "batch: " + big20, "order: random", "order: [1]",
                  "rule: backprop", "rule: [gd]", "predict: nope", "target: 1", "loss: [x]", "seed: -5",
                  "seed: " + big20, "lr: 0", "lr: -1", "lr: '1'", "lr: 1e-999999999", "zz: 1"):
        base = {"rule": "perceptron", "predict": "yhat", "target": "y", "lr": "1"}
        key, _, val = extra.partition(": ")
        base[key] = val
        add(f"train-opt-{len(files):03d}", TRAIN + "train: {" + ", ".join(f"{k}: {v}" for k, v in base.items()) + "}\n")
    add("gd-epochs-1e8", GD + "train: {rule: gd, loss: loss, lr: 0.1, epochs: 100000000}\n")
    add("gd-epochs-1e6-batch1", GD + "train: {rule: gd, loss: loss, lr: 0.1, epochs: 1000000, batch: 1}\n")
    add("gd-exact-1000", GD.replace("sigmoid(z)", "z").replace("bce(yhat, y)", "(yhat - y) * (yhat - y)")
        + "train: {rule: gd, loss: loss, lr: 0.1, epochs: 1000}\noptions: {arithmetic: exact}\n")
    add("gd-big-params", HEAD + "values:\n  W: {shape: [40, 40], init: normal}\ndata:\n  x: {shape: [64, 40]}\n"
        "learn: [W]\ncompute:\n  - loss = sum(W @ x)\ntrain: {rule: gd, loss: loss, lr: 0.1, epochs: 2000000}\n")
    add("max-updates-0", GD + "train: {rule: gd, loss: loss, lr: 0.1, epochs: 5}\noptions: {max_updates: 0}\n")
    add("max-updates-low", GD + "train: {rule: gd, loss: loss, lr: 0.1, epochs: 500, batch: 1}\n"
        "options: {max_updates: 10}\n")
    for opt in ("max_elements: -1", "max_elements: 0", "max_elements: 1e99", "max_elements: 'x'",
                "max_elements: " + big5000, "max_elements: 10", "max_updates: -1", "max_updates: 1.5",
                "max_updates: " + big20, "arithmetic: exact", "arithmetic: [x]", "step_at_zero: x", "zz: 1"):
        add(f"option-{len(files):03d}", SIMPLE + "options: {" + opt + "}\n")

    # ---- memory: big but within the element limit
    add("mem-three-big-specs", HEAD + "values:\n" + "".join(
        f"  x{i}: {{shape: [45000000]}}\n" for i in range(8)) + "compute:\n  - y = x0 + x1\n")
    add("mem-outer", HEAD + "values:\n  a: {shape: [7000, 1]}\n  b: {shape: [1, 7000]}\ncompute:\n"
        "  - y = a * b\n  - z = y * y\n  - w = z + y\n")
    add("mem-conv-im2col", HEAD + "values:\n  X: {shape: [3, 1500, 1500]}\n  K: {shape: [8, 3, 11, 11]}\n"
        "compute:\n  - Y = conv2d(X, K)\n")
    add("mem-conv-im2col-2", HEAD + "values:\n  X: {shape: [3000, 3000]}\n  K: {shape: [60, 60]}\n"
        "compute:\n  - Y = conv2d(X, K)\n")
    add("mem-conv-im2col-3", HEAD + "values:\n  X: {shape: [2000, 2000]}\n  K: {shape: [1000, 1000]}\n"
        "compute:\n  - Y = conv2d(X, K)\nbackward: Y\n")
    add("mem-expect-outer", SIMPLE.replace("  y: 0\n", "  'sum(reshape(x, shape=[2, 1]) * ones(shape=[1, 40000000]))': 1\n"))
    add("mem-expect-ones", SIMPLE.replace("  y: 0\n", "  'sum(ones(shape=[50000, 50000]))': 1\n"))
    add("mem-matmul", HEAD + "values:\n  A: {shape: [20000, 2000]}\n  B: {shape: [2000, 20000]}\ncompute:\n"
        "  - C = A @ B\n")
    add("mem-broadcast", HEAD + "values:\n  a: {shape: [40000, 1]}\n  b: {shape: [40000]}\ncompute:\n  - c = a + b\n")
    add("mem-data-batch", HEAD + "values:\n  W: {shape: [5000, 5000]}\ndata:\n  x: {shape: [2000, 5000]}\n"
        "compute:\n  - h = W @ x\n  - o = W @ h\n")
    add("mem-literal-20k", HEAD + "values:\n  x: [" + ", ".join(str(i % 10) for i in range(20000)) + "]\n"
        "compute:\n  - y = sum(x)\n")
    add("mem-literal-over-limit", HEAD + "options: {max_elements: 1000}\nvalues:\n  x: ["
        + ", ".join("1" for _ in range(5000)) + "]\ncompute:\n  - y = sum(x)\n")

    # ---- code-execution payloads, in every position
    for tag, label in (("!!python/object/apply:os.system ['echo PWNED']", "apply"),
                       ("!!python/object/new:os.system ['echo PWNED']", "new"),
                       ("!!python/name:os.system", "name"), ("!!python/module:os", "module"),
                       ("!!python/object:builtins.dict {}", "object"), ("!!python/tuple [1, 2]", "tuple"),
                       ("!!binary aGVsbG8=", "binary"), ("!!set {a: null}", "set"), ("!!omap [a: 1]", "omap"),
                       ("!custom 1", "local-tag"), ("!<tag:yaml.org,2002:str> 1", "verbatim-tag")):
        for position in ("values", "values-list", "expect", "unknown-key", "train-lr"):
            add(f"payload-{label}-in-{position}", at(position, tag) if position not in ("values-list",)
                else at(position, tag.split(" ")[0] + " 1"))
    for line in ("y = __import__('os').system('echo PWNED')", "y = eval('1')", "y = x.__class__",
                 "y = (lambda: 1)()", "y = [c for c in x]", "y = open('/etc/passwd')", "y = x; import os",
                 "y = exec('1')", "y = x if x else x", "y = {1: 2}", "y = f'{x}'", "y = x.__globals__",
                 "y = getattr(x, 'T')", "y = x := 1", "y = *x"):
        add(f"payload-expr-{len(files):03d}", HEAD + "values:\n  x: [1, 2]\ncompute:\n  - " + line + "\n")
    add("payload-tag-on-key", HEAD + "values:\n  !!python/name:os.system x: 1\ncompute:\n  - y = x\n")
    add("payload-tag-on-root", "!!python/object/apply:os.system ['echo PWNED']\n")
    add("payload-directive", "%TAG !p! tag:yaml.org,2002:python/\n---\nnnlab: 1\ntitle: !p!name:os.system\n"
        "compute:\n  - y = 1 + 1\n")

    # ---- the newer ops and options with hostile arguments (these files also get graph, plot and export)
    def op(name: str, values: str, line: str, extra: str = "") -> None:
        add(f"newop-{name}", HEAD + "values:\n" + values + "compute:\n  - " + line + "\n" + extra)

    img, img3, sig = "  X: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]\n", "  X: {shape: [2, 3, 3]}\n", "  s: [1, 2, 3, 4]\n"
    k2, k1 = "  K: [[1, 0], [0, 1]]\n", "  k: [1, -1]\n"
    for label, pad in (("neg", "-1"), ("huge", "1000000000"), ("int20", big20), ("list3", "[1, 2, 3]"),
                       ("list1", "[1]"), ("sides-ragged", "[[1], [1, 2]]"), ("sides-neg", "[[1, -2], [0, 0]]"),
                       ("float", "1.5"), ("nan", "nan"), ("word", "'middle'"), ("empty", "[]"), ("nested", "[[[1]]]")):
        op(f"conv2d-padding-{label}", img + k2, f"Y = conv2d(X, K, padding={pad})")
        if label in ("neg", "huge", "list3", "sides-ragged", "word"):
            op(f"conv1d-padding-{label}", sig + k1, f"y = conv1d(s, k, padding={pad})")
            op(f"pad-{label}", img, f"P = pad(X, {pad})")
            op(f"maxpool-padding-{label}", img, f"P = maxpool2d(X, 2, padding={pad})")
    op("conv2d-padding-total-neg", img + k2, "Y = conv2d(X, K, padding_total=-3)")
    op("conv2d-padding-both", img + k2, "Y = conv2d(X, K, padding=1, padding_total=2)")
    op("conv2d-padding-same-stride0", img + k2, "Y = conv2d(X, K, padding='same', stride=0)")
    for layout in ("'xyz'", "'HWC'", "1", "[1]", "''", "'hwc' * 99"):
        op(f"layout-{len(files):03d}", img3 + "  K: {shape: [1, 2, 2, 2]}\n", f"Y = conv2d(X, K, layout={layout})")
    op("pad-layout-xyz", img3, "P = pad(X, 1, layout='xyz')")
    op("pad-hwc-2d", img, "P = pad(X, 1, layout='hwc')")
    op("pad-huge-memory", img, "P = pad(X, 30000)")
    op("conv1d-3d-input", "  s: {shape: [2, 2, 2, 5]}\n" + k1, "y = conv1d(s, k)")
    op("conv1d-kernel-longer", sig + "  k: [1, 2, 3, 4, 5, 6]\n", "y = conv1d(s, k)")
    op("conv1d-stride-neg", sig + k1, "y = conv1d(s, k, stride=-1)")
    op("conv1d-scalar", "  s: 3\n  k: 1\n", "y = conv1d(s, k)")
    qkv = "  Q: [[1, 0], [0, 1]]\n  K: [[1, 1], [0, 1]]\n  V: [[1, 2], [3, 4]]\n"
    for label, arg in (("mask-shape", "mask=[[1, 0, 1]]"), ("mask-values", "mask=[[2, 0], [1, -1]]"),
                       ("mask-string", "mask='diagonal'"), ("mask-all-zero", "mask=[[0, 0], [0, 0]]"),
                       ("mask-nan", "mask=[[nan, 1], [1, 1]]"), ("mask-missing-name", "mask=M"),
                       ("mask-number", "mask=1"), ("mask-3d", "mask=[[[1, 1], [1, 1]], [[1, 0], [0, 1]]]"),
                       ("scale-zero", "scale=0"), ("scale-nan", "scale=nan"), ("scale-list", "scale=[1, 2]"),
                       ("scale-string", "scale='x'"), ("scale-huge", "scale=1e308"), ("scale-inf", "scale=inf")):
        op(f"attention-{label}", qkv, f"C = attention(Q, K, V, {arg})")
    for label, mask in (("empty-row", "[[[1, 0], [0, 0]], [[1, 1], [1, 1]]]"), ("ok", "[[[1, 0], [1, 1]], [[1, 1], [0, 1]]]"),
                        ("ragged", "[[[1, 0], [1, 1]], [[1, 1]]]"), ("values", "[[[2, 0], [1, 1]], [[1, 1], [1, 1]]]")):
        add(f"newop-attention-data-mask-{label}", HEAD + f"data:\n  M: {mask}\nvalues:\n" + qkv
            + "compute:\n  - C = attention(Q, K, V, mask=M)\n  - L = sum(C)\nbackward: L\n")
    op("masked-softmax-keep-shape", "  x: [[1, 2], [3, 4]]\n", "y = masked_softmax(x, keep=[[1, 0, 1]])")
    for label, arg in (("p-neg", "-1"), ("p-over", "1.5"), ("p-string", "'x'"), ("p-nan", "nan"),
                       ("seed-huge", "0.5, seed=" + big20), ("seed-neg", "0.5, seed=-1"),
                       ("seed-float", "0.5, seed=1.5"), ("p-list", "[0.5, 0.5]")):
        op(f"dropout-{label}", "  x: [1, 2, 3, 4]\n", f"D = dropout(x, {arg})")
    op("inverted-dropout-mask-shape", "  x: [1, 2, 3, 4]\n  M: [1, 0]\n", "D = inverted_dropout(x, M, 0.5)")
    op("dropout-mask-p1-backward", "  x: [1, 2]\n", "D = dropout(x, 1)", "backward: D\n")
    op("concat-empty", "  a: [1]\n", "j = concat([])")
    op("concat-mismatch", "  a: [[1, 2]]\n  b: [[1, 2, 3]]\n", "j = concat([a, b])")
    op("concat-axis-99", "  a: [1]\n  b: [2]\n", "j = concat([a, b], axis=99)")
    op("concat-not-list", "  a: [1]\n", "j = concat(a)")
    op("concat-scalars", "  a: 1\n  b: 2\n", "j = concat([a, b])")
    op("stack-one", "  a: [1, 2]\n", "j = stack([a])")
    op("stack-mismatch", "  a: [1, 2]\n  b: [1, 2, 3]\n", "j = stack([a, b])")
    op("stack-empty", "  a: [1]\n", "j = stack([])")
    op("stack-many", "  a: [1]\n", "j = stack([" + ", ".join(["a"] * 3000) + "])")
    W = "  W: [[1, 2], [3, 4], [5, 6]]\n"
    for label, idx in (("out-of-range", "[0, 3]"), ("negative", "[-1]"), ("float", "[0.5]"), ("huge", f"[{big20}]"),
                       ("nan", "[nan]"), ("string", "['a']"), ("empty", "[]"), ("ragged", "[[0], [1, 2]]")):
        op(f"index-{label}", W + f"  i: {idx}\n", "E = W[i]")
    op("index-huge-array", W + "  i: {shape: [40000000], init: zeros}\n", "E = W[i]")
    op("index-literal-out", W, "E = W[[0, 7]]")
    op("index-backward-neg", W + "  i: [-4]\n", "E = W[i]", "backward: E\n")
    op("clip-lo-over-hi", "  x: [-2, 0, 2]\n", "c = clip(x, 1, -1)", "backward: c\n")
    op("clip-nan", "  x: [-2, 0, 2]\n", "c = clip(x, nan, 1)")
    op("clip-list-bounds", "  x: [-2, 0, 2]\n", "c = clip(x, [1, 2], 3)")
    op("clip-string", "  x: [-2, 0, 2]\n", "c = clip(x, 'a', 1)")
    op("maximum-mismatch", "  a: [1, 2]\n  b: [1, 2, 3]\n", "m = maximum(a, b)")
    op("minimum-one-arg", "  a: [1, 2]\n", "m = minimum(a)")
    op("sign-at-zero-string", "  x: [0, 1]\n", "s = sign(x)", "options: {sign_at_zero: 'x'}\n")
    op("sign-at-zero-huge", "  x: [0, 1]\n", "s = sign(x)", f"options: {{sign_at_zero: {big5000}}}\n")
    for label, arg in (("yes", "'yes'"), ("number", "2"), ("list", "[True]")):
        op(f"keepdims-{label}", "  x: [[1, 2], [3, 4]]\n", f"y = sum(x, axis=1, keepdims={arg})")
    for label, p in (("over-one", "[[1.5, -0.5]]"), ("negative", "[[-0.5, 1.5]]"), ("zero", "[[0, 1]]"),
                     ("nan", "[[nan, 1]]")):
        op(f"cross-entropy-probs-{label}", f"  p: {p}\n  t: [0]\n", "L = cross_entropy(p, t, logits=False)",
           "backward: L\n")
    op("cross-entropy-logits-string", "  p: [[0.5, 0.5]]\n  t: [0]\n", "L = cross_entropy(p, t, logits='no')")
    op("cross-entropy-target-out", "  p: [[0.5, 0.5]]\n  t: [5]\n", "L = cross_entropy(p, t, logits=False)")
    lstm = "  x: [1.0]\n  h: [0.0]\n  c: [0.5]\n  P:\n"
    gates = ("W_ii", "W_if", "W_ig", "W_io", "W_hi", "W_hf", "W_hg", "W_ho")
    op("lstm-missing-weights", lstm + "    W_ii: [[0.5]]\n", "S = lstm_cell(x, h, c, P)")
    op("lstm-wrong-shapes", lstm + "".join(f"    {g}: [[1, 2, 3]]\n" for g in gates), "S = lstm_cell(x, h, c, P)")
    op("lstm-unknown-weight", lstm + "".join(f"    {g}: [[1]]\n" for g in gates) + "    W_zz: [[1]]\n",
       "S = lstm_cell(x, h, c, P)")
    op("lstm-P-not-map", lstm.replace("  P:\n", "  P: [1, 2]\n"), "S = lstm_cell(x, h, c, P)")
    op("lstm-bias-shape", lstm + "".join(f"    {g}: [[1]]\n" for g in gates) + "    b_ii: [1, 2, 3]\n",
       "S = lstm_cell(x, h, c, P)")
    op("lstm-P-missing", "  x: [1.0]\n  h: [0.0]\n  c: [0.5]\n", "S = lstm_cell(x, h, c, P)")
    op("layernorm-eps-neg", "  x: [[1, 1, 1]]\n  g: [1, 1, 1]\n  b: [0, 0, 0]\n", "h = layernorm(x, g, b, eps=-1)",
       "backward: h\n")
    op("layernorm-gamma-shape", "  x: [[1, 2, 3]]\n  g: [1, 1]\n  b: [0, 0]\n", "h = layernorm(x, g, b)")
    op("layernorm-scalar", "  x: 1\n  g: 1\n  b: 0\n", "h = layernorm(x, g, b)")
    for label, opt in (("momentum-neg", "momentum: -0.5"), ("momentum-string", "momentum: fast"),
                       ("momentum-over", "momentum: 1.5"), ("momentum-int20", "momentum: " + big20),
                       ("weight-decay-huge", "weight_decay: 1e300"), ("weight-decay-neg", "weight_decay: -1"),
                       ("weight-decay-list", "weight_decay: [1]"), ("momentum-nan", "momentum: .nan")):
        add(f"newopt-{label}", GD + f"train: {{rule: gd, loss: loss, lr: 0.1, epochs: 5, {opt}}}\n")
    for label, upd in (("foo", "foo"), ("list", "[label]"), ("number", "1"), ("label", "label")):
        add(f"newopt-update-{label}", TRAIN + f"train: {{rule: perceptron, predict: yhat, target: y, lr: 1, "
            f"epochs: 3, update: {upd}}}\n")
    add("newopt-perceptron-momentum", TRAIN + "train: {rule: perceptron, predict: yhat, target: y, lr: 1, "
        "momentum: 0.9, weight_decay: 0.1}\n")
    add("newopt-gd-update-label", GD + "train: {rule: gd, loss: loss, lr: 0.1, epochs: 3, update: label}\n")
    add("newopt-momentum-exact-batch1", GD.replace("sigmoid(z)", "z").replace("bce(yhat, y)", "(yhat - y) * (yhat - y)")
        + "train: {rule: gd, loss: loss, lr: 0.1, epochs: 300, batch: 1, momentum: 0.999999, weight_decay: 0.5}\n"
        "options: {arithmetic: exact}\n")
    add("newopt-velocity-refs", GD + "train: {rule: gd, loss: loss, lr: 0.1, epochs: 3, momentum: 0.5}\nexpect:\n"
        "  update(1).velocity(w): 0\n  update(99).velocity(w): 0\n  velocity(zz): 0\n  'velocity(velocity(w))': 0\n")
    add("newopt-gd-no-data-1e9", HEAD + "values: {w: [1.0, -2.0]}\nlearn: [w]\ncompute:\n  - f = sum(w * w)\n"
        "train: {rule: gd, loss: f, lr: 0.1, epochs: 1000000000, momentum: 0.9}\n")
    add("newopt-gd-no-data-1e9-float", HEAD + "values: {w: [1.0, -2.0]}\nlearn: [w]\ncompute:\n  - f = sum(w * w)\n"
        "train: {rule: gd, loss: f, lr: 0.1, epochs: 1e9}\n")
    add("newopt-dropout-in-training", GD.replace("  - yhat = sigmoid(z)\n", "  - D = dropout(z, 0.5, seed=1)\n"
        "  - yhat = sigmoid(D)\n") + "train: {rule: gd, loss: loss, lr: 0.1, epochs: 3, batch: 2}\n")

    # ---- malformed YAML and odd documents
    for name, text in {
        "empty": "", "only-comment": "# nothing\n", "only-null": "~\n", "scalar-root": "42\n",
        "list-root": "- nnlab: 1\n", "string-root": "hello\n", "two-documents": SIMPLE + "---\n" + SIMPLE,
        "tab-indent": SIMPLE.replace("  x: [1, 2]", "\tx: [1, 2]"), "unclosed-flow": HEAD + "values: {x: [1, 2\n",
        "unclosed-quote": HEAD + "title2: 'abc\n", "bad-indent": SIMPLE.replace("  w:", "   w:"),
        "colon-in-compute": HEAD + "values: {x: 1}\ncompute:\n  - y: x + 1\n", "bom": "\ufeff" + SIMPLE,
        "nul-byte": SIMPLE.replace("title: hostile", "title: a\x00b"), "control-chars": SIMPLE + "about: \x07\x1b[2J\n",
        "long-line": HEAD + "about: " + "a" * 300_000 + "\ncompute:\n  - y = 1 + 1\n",
        "many-keys": HEAD + "values:\n" + "".join(f"  x{i}: {i}\n" for i in range(5000)) + "compute:\n  - y = x1\n",
        "long-key": HEAD + "values:\n  " + "x" * 20000 + ": 1\ncompute:\n  - y = 1 + 1\n",
        "dup-keys": SIMPLE + "title: again\n", "dup-keys-values": HEAD + "values: {x: 1, x: 2}\ncompute:\n  - y = x\n",
        "complex-key": HEAD + "values:\n  ? [1, 2]\n  : 3\ncompute:\n  - y = 1 + 1\n",
        "map-key": HEAD + "values: {{a: 1}: 2}\ncompute:\n  - y = 1 + 1\n", "null-key": HEAD + "values: {~: 1}\n"
        "compute:\n  - y = 1 + 1\n", "int-key": HEAD + "values: {1: 1}\ncompute:\n  - y = 1 + 1\n",
        "bool-values": HEAD + "values: {x: [true, false]}\ncompute:\n  - y = x + 1\n",
        "string-values": HEAD + "values: {x: [a, b]}\ncompute:\n  - y = x + 1\n",
        "null-compute": HEAD + "compute:\n", "compute-map": HEAD + "compute: {y: 1}\n",
        "compute-nested-list": HEAD + "compute:\n  - [y = 1]\n", "compute-number": HEAD + "compute:\n  - 5\n",
        "values-list": HEAD + "values: [1, 2]\ncompute:\n  - y = 1 + 1\n",
        "title-list": "nnlab: 1\ntitle: [a]\ncompute:\n  - y = 1 + 1\n", "title-multiline": "nnlab: 1\ntitle: |\n  a\n  b\n"
        "compute:\n  - y = 1 + 1\n", "version-2": SIMPLE.replace("nnlab: 1", "nnlab: 2"),
        "version-string": SIMPLE.replace("nnlab: 1", "nnlab: '1'"), "no-version": SIMPLE.replace("nnlab: 1\n", ""),
        "yaml-directive": "%YAML 1.1\n%YAML 1.1\n---\n" + SIMPLE, "bad-escape": HEAD + 'about: "\\q"\ncompute:\n  - y = 1\n',
        "invalid-utf8": b"nnlab: 1\ntitle: \xff\xfe\xfa\ncompute:\n  - y = 1 + 1\n",
        "utf16": SIMPLE.encode("utf-16"), "crlf": SIMPLE.replace("\n", "\r\n"), "cr-only": SIMPLE.replace("\n", "\r"),
        "unicode-names": HEAD + "values: {xé: 1, 𝑥: 2}\ncompute:\n  - y = xé + 𝑥\n",
        "dunder-name": HEAD + "values: {__class__: 1}\ncompute:\n  - y = __class__\n",
        "keyword-name": HEAD + "values: {lambda: 1}\ncompute:\n  - y = lambda\n",
        "self-reference": HEAD + "compute:\n  - y = y + 1\n", "cycle": HEAD + "compute:\n  - a = b + 1\n  - b = a + 1\n",
        "reassign": HEAD + "values: {x: 1}\ncompute:\n  - y = x\n  - y = x + 1\n",
        "backward-list": SIMPLE.replace("backward: y", "backward: [y]"), "learn-missing": SIMPLE + "learn: [q]\n",
        "data-ragged": HEAD + "data:\n  x: [[1], [2, 3]]\ncompute:\n  - y = x + 1\n",
        "data-mismatch": HEAD + "data:\n  x: [1, 2]\n  t: [1, 2, 3]\ncompute:\n  - y = x + t\n",
        "data-scalar": HEAD + "data:\n  x: 1\ncompute:\n  - y = x + 1\n",
        "values-ragged-deep": HEAD + "values:\n  x: [[[1, 2], [3]], [[4, 5], [6, 7]]]\ncompute:\n  - y = x + 1\n",
    }.items():
        add(f"yaml-{name}", text)
    return files


def main() -> None:
    """Rewrite the corpus directory."""
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    files = corpus()
    for name, text in files.items():
        path = OUT / f"{name}.yaml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8", newline="")
    print(f"wrote {len(files)} files to {OUT}")


if __name__ == "__main__":
    main()
