"""Answers typed in the check screen: parse them like the file's ``expect:`` and save them back.

Typed text is read exactly as an ``expect:`` value would be (``0.12`` → ±0.005, a list
of numbers, ``true``, or an expression such as ``sigmoid(2) - 1``), so re-checking as
the user types gives the same verdict ``nnlab check`` will give after saving.

Saving edits only the answer's own characters in the file: PyYAML's node marks
give the exact span of each answer, which is replaced in place — comments, order,
quoting of the other entries and blank lines stay as they were.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

from nnlab.errors import NnlabError
from nnlab.scenario.yamlsrc import load_yaml


def parse_answer(text: str, entry: Any) -> Any:
    """A copy of ``entry`` (an ``ExpectEntry``) answering ``text``.

    Raises:
        NnlabError: If the text is neither a number, a list of numbers, a boolean nor
            a valid expression.
    """
    from nnlab.scenario.expr import parse_expr
    from nnlab.scenario.model import read_answer  # the file's own reading of an answer

    t = text.strip()
    if not t:
        raise NnlabError("type an answer")
    try:
        node = load_yaml(f"v: {t}\n").value["v"]
    except (NnlabError, AttributeError, KeyError, TypeError):
        node = None
    if node is None or node.kind == "map" or (node.kind == "scalar" and isinstance(node.value, str)):
        source = node.value if node is not None and node.kind == "scalar" else t
        answer, raw, tol = parse_expr(str(source)), str(source), 0.0
    else:
        answer, raw, tol = read_answer(node, entry.ref)
    if entry.explicit_tol:
        tol = entry.abs_tol
    return dataclasses.replace(entry, answer=answer, raw=raw, abs_tol=tol)


def answer_text(entry: Any) -> str:
    """The answer as written in the file (one line), for the editable cell."""
    src = _span_text(entry)
    if src is not None:
        return src
    raw = entry.raw
    return raw if isinstance(raw, str) else str(raw)


def _span_text(entry: Any) -> str | None:
    if not entry.loc.file:
        return None
    try:
        text = _read(entry.loc.file)
        spans = answer_spans(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):  # the file changed or went away: the parsed answer
        return None
    span = spans.get(entry.ref)
    if span is None:
        return None
    s = text[span[0]:span[1]]
    s = " ".join(line.strip() for line in s.splitlines())
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        s = s[1:-1].replace("''", "'") if s[0] == "'" else s[1:-1]
    return s


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def answer_spans(text: str) -> dict[str, tuple[int, int]]:
    """``ref -> (start, end)`` character offsets of each ``expect:`` answer in ``text``."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    out: dict[str, tuple[int, int]] = {}
    if not isinstance(root, yaml.MappingNode):
        return out
    for key, value in root.value:
        if key.value != "expect" or not isinstance(value, yaml.MappingNode):
            continue
        for k, v in value.value:
            if isinstance(v, yaml.MappingNode):
                inner = [vv for kk, vv in v.value if kk.value == "value"]
                if not inner:
                    continue
                v = inner[0]
            out[str(k.value)] = (v.start_mark.index, v.end_mark.index)
    return out


def yaml_value(text: str) -> str:
    """``text`` as a YAML value: numbers, booleans and number lists as typed, anything else quoted."""
    t = text.strip()
    try:
        node = load_yaml(f"v: {t}\n").value["v"]
        plain = node.kind == "seq" or (node.kind == "scalar" and not isinstance(node.value, str)
                                       and node.value is not None)
    except (NnlabError, AttributeError, KeyError, TypeError):
        plain = False
    if plain and "\n" not in t and " #" not in t:
        return t
    return "'" + t.replace("'", "''") + "'"


def save_answers(path: str, answers: dict[str, str]) -> list[str]:
    """Write ``answers`` (ref → typed text) into the file's ``expect:`` block in place.

    Returns:
        The references that were changed. References not found in the file are skipped.

    Raises:
        OSError: The file cannot be read or written.
        UnicodeError: It is not UTF-8 text.
        yaml.YAMLError: It is no longer valid YAML (then nothing is written).
    """
    text = _read(path)
    spans = answer_spans(text)
    edits = []
    for ref, typed in answers.items():
        span = spans.get(ref)
        if span is None:
            continue
        new = yaml_value(typed)
        if text[span[0]:span[1]] != new:
            edits.append((span, new, ref))
    if not edits:
        return []
    for (start, end), new, _ in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    tmp = path + ".nnlab-tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    import os

    os.replace(tmp, path)
    return [ref for _, _, ref in edits]
