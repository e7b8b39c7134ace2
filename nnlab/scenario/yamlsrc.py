"""YAML with source positions, loaded safely.

We never call ``yaml.load``: ``yaml.compose`` with the safe loader only builds a node
tree (no constructors run), and we turn nodes into Python values ourselves. That way
every value remembers its line and column and its text as written — needed for
error messages, for tolerances derived from the digits a student wrote (``0.12``
means ±0.005) and for exact decimal arithmetic (``0.1`` is 1/10, not a binary float).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from nnlab.errors import Location, NnlabError

_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_FLOAT = re.compile(r"^[-+]?(\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_SPECIAL_FLOAT = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf"), ".nan": float("nan")}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_NULL = {"", "~", "null", "Null", "NULL"}


@dataclass
class YNode:
    """One YAML node with its position.

    Attributes:
        kind: ``"map"``, ``"seq"`` or ``"scalar"``.
        value: ``dict[str, YNode]``, ``list[YNode]`` or a Python scalar.
        raw: For scalars, the text exactly as written (without quotes).
        quoted: For scalars, whether the text was quoted (a quoted number is a string).
        loc: Where the node starts.
        key_locs: For maps, where each key is written.
    """

    kind: str
    value: Any
    raw: str | None = None
    quoted: bool = False
    loc: Location = field(default_factory=Location)
    key_locs: dict[str, Location] = field(default_factory=dict)

    def to_py(self) -> Any:
        """The plain Python value (dicts, lists, scalars), positions dropped."""
        if self.kind == "map":
            return {k: v.to_py() for k, v in self.value.items()}
        if self.kind == "seq":
            return [v.to_py() for v in self.value]
        return self.value

    def get(self, key: str) -> YNode | None:
        """The child under ``key`` of a map node, or None."""
        if self.kind != "map":
            return None
        return self.value.get(key)


def _location(mark: Any, lines: list[str], file: str, length: int = 1) -> Location:
    line = mark.line + 1
    source = lines[mark.line] if 0 <= mark.line < len(lines) else ""
    return Location(file, line, mark.column + 1, source, length)


def resolve_scalar(text: str, quoted: bool) -> Any:
    """Turn scalar text into bool, None, int, float or str (plain style only).

    YAML 1.1 (PyYAML) reads ``1e-3`` as a string and ``yes`` as a bool; we read
    numbers the way a student means them and accept only true/false as booleans.
    """
    if quoted:
        return text
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text in _NULL:
        return None
    if _INT.match(text):
        return int(text.replace("_", ""))
    if _FLOAT.match(text):
        return float(text.replace("_", ""))
    if text.lower() in _SPECIAL_FLOAT:
        return _SPECIAL_FLOAT[text.lower()]
    return text


def load_yaml(text: str, file: str = "<string>") -> YNode:
    """Parse YAML text into a :class:`YNode` tree.

    Raises:
        NnlabError: On YAML syntax errors, tabs used for indentation, duplicate keys,
            anchors/tags we do not support, or an empty document.
    """
    lines = text.splitlines()
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = _location(mark, lines, file) if mark is not None else Location(file)
        problem = exc.problem or "invalid YAML"
        hint = None
        if loc.source and "\t" in loc.source[: max(loc.col, 1) + 1]:
            hint = "YAML does not allow tabs for indentation; indent with spaces."
        elif "mapping values are not allowed" in problem:
            hint = "a value containing ': ' must be quoted, or a line is indented wrongly."
        elif "expected <block end>" in problem or "did not find expected" in problem:
            hint = "check the indentation of this line against the lines above it."
        raise NnlabError(f"YAML syntax: {problem}", loc, hint, kind="yaml") from None
    except yaml.YAMLError as exc:  # pragma: no cover - rare unmarked errors
        raise NnlabError(f"YAML syntax: {exc}", Location(file), kind="yaml") from None
    if root is None:
        raise NnlabError("the file is empty", Location(file, 1, 1), kind="yaml")
    return _convert(root, lines, file)


def _convert(node: Any, lines: list[str], file: str) -> YNode:
    loc = _location(node.start_mark, lines, file)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, YNode] = {}
        key_locs: dict[str, Location] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise NnlabError("a mapping key must be a plain name", loc, kind="yaml")
            key = str(key_node.value)
            key_loc = _location(key_node.start_mark, lines, file, len(key))
            if key == "<<":
                raise NnlabError("YAML merge keys (<<) are not supported", key_loc, kind="yaml")
            if key in out:
                raise NnlabError(
                    f"duplicate key '{key}'", key_loc,
                    f"'{key}' is already defined on line {key_locs[key].line}; keep one.",
                    kind="yaml",
                )
            out[key] = _convert(value_node, lines, file)
            key_locs[key] = key_loc
        return YNode("map", out, loc=loc, key_locs=key_locs)
    if isinstance(node, yaml.SequenceNode):
        return YNode("seq", [_convert(v, lines, file) for v in node.value], loc=loc)
    quoted = node.style in ("'", '"', "|", ">")
    text = node.value
    loc = _location(node.start_mark, lines, file, max(1, len(text)))
    if node.style in ("'", '"'):
        loc = loc.shifted(1, max(1, len(text)))
    return YNode("scalar", resolve_scalar(text, quoted), raw=text, quoted=quoted, loc=loc)
