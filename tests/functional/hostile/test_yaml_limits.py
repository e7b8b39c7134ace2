"""YAML loading: the same answer through libyaml and the pure-Python parser, bounded work from any text.

The ``parser`` fixture runs a test twice: once with libyaml's C parser (when PyYAML has
it) and once forced onto the pure-Python fallback. Hypothesis generates YAML with
aliases, deep nesting and huge numbers; every text must load or fail with a located
:class:`NnlabError`, quickly, and identically on both paths.
"""

from __future__ import annotations

import glob
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlab import limits
from nnlab.errors import NnlabError
from nnlab.scenario import loads, yamlsrc
from nnlab.scenario.yamlsrc import load_yaml

PATHS = ["libyaml", "pure"] if yamlsrc.CParser is not None else ["pure"]


@pytest.fixture(params=PATHS)
def parser(request, monkeypatch):
    """Which YAML parser nnlab uses in this test: ``"libyaml"`` or ``"pure"`` (the fallback)."""
    if request.param == "pure":
        monkeypatch.setattr(yamlsrc, "CParser", None)
    return request.param


def dump(node) -> tuple:
    """A node tree with every position, for comparing two loads."""
    if node.kind == "map":
        return ("map", str(node.loc), tuple((k, str(node.key_locs[k]), dump(v)) for k, v in node.value.items()))
    if node.kind == "seq":
        return ("seq", str(node.loc), tuple(dump(v) for v in node.value))
    return ("scalar", node.raw, node.quoted, repr(node.value), str(node.loc))


def outcome(text: str, *, pure: bool) -> tuple:
    """What loading ``text`` gives: the tree, or the full error text."""
    try:
        return ("ok", dump(load_yaml(text, "t.yaml", pure=pure)))
    except NnlabError as exc:
        return ("error", exc.format())


def test_libyaml_is_used_when_available():
    import yaml

    assert (yamlsrc.CParser is not None) == bool(getattr(yaml, "__with_libyaml__", False))


@pytest.mark.parametrize("path", sorted(glob.glob("scenarios/*.yaml")))
def test_bundled_scenarios_load_the_same_on_both_paths(path):
    text = open(path, encoding="utf-8").read()
    assert outcome(text, pure=False) == outcome(text, pure=True)


SYNTAX_ERRORS = {
    "a: b: c\n": "1:5: error: YAML syntax: mapping values are not allowed here",
    "a:\n\t- 1\n": "2:1: error: YAML syntax: found character '\\t' that cannot start any token",
    "a: [1, 2\nb: 3\n": "2:2: error: YAML syntax: expected ',' or ']', but got ':'",
    "- a\nb: 1\n": "2:1: error: YAML syntax: expected <block end>, but found '?'",
    "a: {b: 1\n": "2:1: error: YAML syntax: expected ',' or '}', but got '<stream end>'",
    "a: @b\n": "1:4: error: YAML syntax: found character '@' that cannot start any token",
    "a: \"\\q\"\n": "1:6: error: YAML syntax: found unknown escape character 'q'",
    "a: \x07\n": "1:4: error: the file contains the control character #x0007",
    "a: 'x\n": "2:1: error: YAML syntax: found unexpected end of stream",
    "x: [\n": "2:1: error: YAML syntax: expected the node content, but found '<stream end>'",
}


@pytest.mark.parametrize("text", list(SYNTAX_ERRORS))
def test_syntax_errors_read_the_same_on_both_paths(parser, text):
    with pytest.raises(NnlabError) as info:
        load_yaml(text, "t.yaml")
    assert info.value.format().startswith("t.yaml:" + SYNTAX_ERRORS[text]), info.value.format()


LIMITS = {
    "billion laughs": ("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi")),
        "aliases expand to more than 100,000 nodes"),
    "recursive alias": ("x: &a [1, *a]\n", "1:11: error: the alias *a is inside its own anchor &a"),
    "undefined alias": ("x: *nope\n", "1:4: error: the alias *nope names no anchor"),
    "duplicate anchor": ("x: &a 1\ny: &a 2\n", "2:4: error: the anchor &a is defined twice"),
    "deep list": ("x: " + "[" * 70 + "1" + "]" * 70 + "\n", "lists or mappings nested more than 64 levels deep"),
    "very deep list": ("x: " + "[" * 5000 + "1" + "]" * 5000 + "\n", "nested more than 64 levels deep"),
    "huge integer": ("x: " + "9" * 5000 + "\n", "1:4: error: a number with 5,000 digits"),
    "huge exponent": ("x: 1e-999999999\n", "1:4: error: the exponent of 1e-999999999 is beyond ±400"),
    "python tag": ("x: !!python/object/apply:os.system [ls]\n", "1:4: error: YAML tags are not supported "
                   "(found !!python/object/apply:os.system)"),
    "merge key": ("b: &b {x: 1}\nc:\n  <<: *b\n", "3:3: error: YAML merge keys (<<) are not supported"),
    "two documents": ("a: 1\n---\nb: 2\n", "2:1: error: the file holds more than one YAML document"),
    "too many values": ("x: [" + ", ".join(["1"] * 50) + "]\n", "the file holds more than 20 values"),
}


@pytest.mark.parametrize("name", list(LIMITS))
def test_limits_are_located_errors_on_both_paths(parser, name):
    text, needle = LIMITS[name]
    start = time.perf_counter()
    with pytest.raises(NnlabError) as info:
        load_yaml(text, "t.yaml", max_values=20 if name == "too many values" else None)
    assert time.perf_counter() - start < 5
    assert needle in info.value.format(), info.value.format()


def test_a_small_alias_is_still_fine(parser):
    root = load_yaml("row: &r [1, 2]\nagain: *r\n")
    assert root.value["again"].to_py() == [1, 2]


def test_the_element_limit_holds_while_parsing():
    text = "nnlab: 1\ntitle: t\nvalues:\n  x: [" + ", ".join(["1"] * 300_000) + "]\ncompute:\n  - y = x\n"
    start = time.perf_counter()
    with pytest.raises(NnlabError, match="the file holds more than 1,000 values"):
        loads(text, "t.yaml", max_elements=1000)
    assert time.perf_counter() - start < 2  # it stops at value 1,001, not after 300,000


def test_options_max_elements_and_max_updates_are_read():
    base = "nnlab: 1\ntitle: t\nvalues:\n  x: {shape: [100]}\ncompute:\n  - y = x + 1\n"
    with pytest.raises(NnlabError, match="'x' has 100 elements, over the limit of 10"):
        loads(base + "options: {max_elements: 10}\n", "t.yaml")
    with pytest.raises(NnlabError, match="options.max_updates must be a whole number ≥ 1"):
        loads(base + "options: {max_updates: 0}\n", "t.yaml")
    assert loads(base + "options: {max_updates: 1e6}\n", "t.yaml").options["max_updates"] == 1_000_000


def test_shapes_whose_int64_size_wraps_are_refused():
    text = "nnlab: 1\ntitle: t\nvalues:\n  x: {shape: [4294967296, 4294967296]}\ncompute:\n  - y = x + 1\n"
    with pytest.raises(NnlabError, match="18,446,744,073,709,551,616 elements, over the limit"):
        loads(text, "t.yaml")


def test_the_memory_budget_refuses_values_before_they_are_made(monkeypatch):
    monkeypatch.setattr(limits, "_budget", 1 << 20)
    text = "nnlab: 1\ntitle: t\nvalues:\n  x: {shape: [1000, 1000]}\ncompute:\n  - y = x + 1\n"
    with pytest.raises(NnlabError, match="'x' needs 7.6 MiB, more than the memory budget leaves"):
        loads(text, "t.yaml")


# ------------------------------------------------------------------ generated YAML

_NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n),
    st.tuples(st.integers(-9, 9), st.integers(-10**10, 10**10)).map(lambda t: f"{t[0]}e{t[1]}"),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from([".inf", "-.inf", ".nan", "1_000", "0x1F", "1e", "--1", "'1'", "true", "null", "~"]),
)


@st.composite
def _yaml_value(draw, depth: int = 0):
    kind = draw(st.sampled_from(["num", "list", "map", "alias", "deep"] if depth < 4 else ["num", "alias"]))
    if kind == "num":
        return draw(_NUMBERS)
    if kind == "deep":
        n = draw(st.integers(1, 200))
        return "[" * n + draw(_NUMBERS) + "]" * n
    if kind == "alias":
        return "*a" + str(draw(st.integers(0, 3)))
    items = draw(st.lists(_yaml_value(depth + 1), max_size=4))
    if kind == "list":
        return "[" + ", ".join(items) + "]"
    return "{" + ", ".join(f"k{i}: {v}" for i, v in enumerate(items)) + "}"


@st.composite
def _yaml_document(draw):
    lines = []
    for i in range(draw(st.integers(0, 4))):
        width = draw(st.integers(1, 12))
        body = ", ".join(["*a" + str(i - 1)] * width) if i else draw(_yaml_value())
        lines.append(f"v{i}: &a{i} [{body}]")
    for j in range(draw(st.integers(1, 4))):
        lines.append(f"w{j}: {draw(_yaml_value())}")
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_yaml_document())
def test_generated_yaml_loads_or_fails_cleanly_and_alike_on_both_paths(text):
    start = time.perf_counter()
    pure = outcome(text, pure=True)
    assert time.perf_counter() - start < 5
    if yamlsrc.CParser is not None:
        assert outcome(text, pure=False) == pure


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_yaml_document())
def test_generated_values_make_a_scenario_or_a_located_error(text):
    body = "".join("  " + line + "\n" for line in text.splitlines())
    scenario = "nnlab: 1\ntitle: t\nvalues:\n" + body + "compute:\n  - y = 1 + 1\n"
    start = time.perf_counter()
    try:
        loads(scenario, "t.yaml")
    except NnlabError as exc:
        assert exc.loc is not None and exc.loc.file == "t.yaml"
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("text", [
    "x: [é, ü, 12345678901234567890123456789e999]\n", "é: 1\nx: {ü: 2, b: 3}\n", "x: 'ααα', y: [1\n",
    "ab: ααα: 1\n", "x: [ααα, *nope]\n", "𝑥: [1, 2]\nk: 𝑥𝑥𝑥 @\n", "\ufeffx: 1\n", "x: 1\r\ny: [2,\r\n",
])
def test_positions_after_non_ascii_text_are_the_same_on_both_paths(text):
    assert outcome(text, pure=False) == outcome(text, pure=True)
