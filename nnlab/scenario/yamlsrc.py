"""YAML with source positions, loaded safely and with bounded work.

We never call ``yaml.load``: we read the parser's *events* (libyaml's C parser when
PyYAML was built with it, PyYAML's pure-Python parser otherwise) and build our own
tree of :class:`YNode` from them. No constructor ever runs, so no tag can create a
Python object, and every value remembers its line and column and its text as written
— needed for error messages, for tolerances derived from the digits a student wrote
(``0.12`` means ±0.005) and for exact decimal arithmetic (``0.1`` is 1/10).

Building the tree ourselves is also what bounds the work a file can ask for (see
:mod:`nnlab.limits`): aliases may repeat at most ``MAX_ALIAS_NODES`` nodes (a 700-byte
"billion laughs" file stops at once), an alias inside its own anchor is refused,
nesting stops at ``MAX_DEPTH``, numbers have at most ``MAX_NUMBER_DIGITS`` digits and
an exponent of at most ``MAX_EXPONENT``, and the number of values is counted against
the element limit *while* parsing. Both parsers give the same events and marks; for a
syntax error we ask the pure-Python parser for its message, so the text a user sees
does not depend on how PyYAML was built.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import yaml
from yaml.events import (AliasEvent, MappingEndEvent, MappingStartEvent, ScalarEvent, SequenceEndEvent,
                         SequenceStartEvent)

from nnlab import limits
from nnlab.errors import Location, NnlabError

_NUMBER = re.compile(r"[-+]?(?:(0|[1-9][0-9_]*)$|(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$)").match
"""An integer (``1_000``, ``-7``: group 1 set) or a decimal number (``0.5``, ``1e-3``, ``007``)."""
_SPECIAL_FLOAT = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf"), ".nan": float("nan")}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_NULL = {"", "~", "null", "Null", "NULL"}
_PLAIN_TAGS = {"tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "seq", "map")} | {"!"}

try:
    from yaml.cyaml import CParser  # libyaml's event parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    CParser = None
_SYNTAX_RECHECK_CHARS = 1 << 20
"""Up to this size, a libyaml syntax error is re-read by the pure-Python parser for its message."""


class _PyParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's pure-Python event parser (reader, scanner, parser — no composer, no constructor)."""

    def __init__(self, text: str) -> None:
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


_NO_KEYS: Mapping[str, Location] = MappingProxyType({})
"""The ``key_locs`` of every list and scalar (one shared, read-only empty mapping)."""


class YNode:
    """One YAML node with its position.

    Attributes:
        kind: ``"map"``, ``"seq"`` or ``"scalar"``.
        value: ``dict[str, YNode]``, ``list[YNode]`` or a Python scalar.
        raw: For scalars, the text exactly as written (without quotes).
        quoted: For scalars, whether the text was quoted (a quoted number is a string).
        loc: Where the node starts (made when first asked for: a file of a million
            numbers needs a million positions only if it has a million errors).
        key_locs: For maps, where each key is written (made when first asked for, as ``loc``).
        size: How many nodes this one stands for, children included (an alias's
            target counts again each time it is repeated).
    """

    __slots__ = ("kind", "value", "raw", "quoted", "_key_locs", "size", "_loc", "_mark")

    def __init__(self, kind: str, value: Any, raw: str | None = None, quoted: bool = False,
                 loc: Location | None = None, key_locs: dict[str, Location] | None = None, size: int = 1,
                 mark: tuple | None = None, key_marks: tuple | None = None) -> None:
        self.kind = kind
        self.value = value
        self.raw = raw
        self.quoted = quoted
        # (file, lines, {key: (line, column, length)}) until key_locs is asked for
        self._key_locs = key_marks if key_marks is not None else _NO_KEYS if key_locs is None else key_locs
        self.size = size
        self._loc = loc
        self._mark = mark  # (file, lines, line, column, length, shift) until loc is asked for

    @property
    def loc(self) -> Location:
        if self._loc is None:
            self._loc = _mark_location(*self._mark) if self._mark is not None else Location()
            self._mark = None
        return self._loc

    @loc.setter
    def loc(self, value: Location) -> None:
        self._loc, self._mark = value, None

    @property
    def key_locs(self) -> Mapping[str, Location]:
        locs = self._key_locs
        if type(locs) is tuple:
            file, lines, marks = locs
            locs = self._key_locs = {key: _mark_location(file, lines, line, column, length)
                                     for key, (line, column, length) in marks.items()}
        return locs

    @key_locs.setter
    def key_locs(self, value: Mapping[str, Location]) -> None:
        self._key_locs = value

    def __repr__(self) -> str:
        return f"YNode({self.kind!r}, {self.value!r})"

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


def _mark_location(file: str, lines: list[str], line: int, column: int, length: int = 1, shift: int = 0) -> Location:
    source = lines[line] if 0 <= line < len(lines) else ""
    loc = Location(file, line + 1, column + 1, source, length)
    return loc.shifted(shift, length) if shift else loc


def _location(mark: Any, lines: list[str], file: str, length: int = 1) -> Location:
    return _mark_location(file, lines, mark.line, mark.column, length)


def resolve_scalar(text: str, quoted: bool) -> Any:
    """Turn scalar text into bool, None, int, float or str (plain style only).

    YAML 1.1 (PyYAML) reads ``1e-3`` as a string and ``yes`` as a bool; we read
    numbers the way a student means them and accept only true/false as booleans.
    Callers check :func:`nnlab.limits.number_problem` first: a 5000-digit integer is not read.
    """
    if quoted:
        return text
    m = _NUMBER(text)
    if m is not None:
        if "_" in text:
            text = text.replace("_", "")
        return int(text) if m.group(1) is not None else float(text)
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text in _NULL:
        return None
    if text.lower() in _SPECIAL_FLOAT:
        return _SPECIAL_FLOAT[text.lower()]
    return text


def _short(text: str, width: int = 24) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def load_yaml(text: str, file: str = "<string>", *, max_values: int | None = None,
              pure: bool = False) -> YNode:
    """Parse YAML text into a :class:`YNode` tree.

    Args:
        text: The YAML text.
        file: The file name for locations.
        max_values: Refuse a file with more scalar values than this (default: the
            element limit); counted while parsing, so a huge file stops early.
        pure: Use the pure-Python parser even if libyaml is available (tests).

    Raises:
        NnlabError: On YAML syntax errors, tabs used for indentation, duplicate keys,
            tags, merge keys, aliases that repeat too much or refer to themselves,
            nesting or numbers beyond the limits, or an empty document.
    """
    lines = text.splitlines()
    if max_values is None:
        max_values = limits.DEFAULT_MAX_ELEMENTS
    if CParser is None or pure:
        return _load(_PyParser, text, lines, file, max_values)
    try:
        return _load(CParser, text, lines, file, max_values)
    except yaml.YAMLError as exc:
        if len(text) > _SYNTAX_RECHECK_CHARS:
            raise _syntax_error(exc, lines, file) from None
    # libyaml refused the text: the pure-Python parser reads it again (with the same limits,
    # so this stays bounded) for its words and position, the same on every install
    return _load(_PyParser, text, lines, file, max_values)


def read_header(text: str, keys: tuple[str, ...] = ("title", "topic")) -> dict[str, str]:
    """The plain-text values of a few top-level keys, reading no further than needed.

    For listing scenarios: the title sits near the top, so the rest of the file is
    never parsed. Keys that are missing, not plain text, or after a syntax error are
    left out.
    """
    found: dict[str, str] = {}
    try:
        get = (CParser or _PyParser)(text).get_event
        get(), get()  # the stream and document starts
        if not isinstance(get(), MappingStartEvent):
            return found
        while len(found) < len(keys):
            event = get()  # a key, or the end of the top-level mapping
            if isinstance(event, MappingEndEvent):
                break
            key = event.value if isinstance(event, ScalarEvent) else None
            _skip(get, event)
            value = get()
            if isinstance(value, ScalarEvent) and key in keys and value.tag is None:
                found[key] = value.value
            _skip(get, value)
    except yaml.YAMLError:
        pass
    return found


def _skip(get: Any, event: Any) -> None:
    """Read past the collection ``event`` starts (nothing to do for a scalar or an alias)."""
    if not isinstance(event, (SequenceStartEvent, MappingStartEvent)):
        return
    depth = 1
    while depth:
        event = get()
        if isinstance(event, (SequenceStartEvent, MappingStartEvent)):
            depth += 1
        elif isinstance(event, (SequenceEndEvent, MappingEndEvent)):
            depth -= 1


def _load(parser_class: Any, text: str, lines: list[str], file: str, max_values: int) -> YNode:
    """Parse with one parser; YAML errors from the pure-Python parser become :class:`NnlabError`.

    The cyclic garbage collector pauses meanwhile: the tree has no cycles, and for a file
    of a million numbers its passes over the growing tree took longer than the parsing.
    """
    paused = gc.isenabled()
    gc.disable()
    parser = None
    try:
        parser = parser_class(text)  # (the pure-Python reader checks the characters here)
        root = _Composer(parser, lines, file, max_values).document()
    except yaml.YAMLError as exc:
        if parser_class is CParser:
            raise
        raise _syntax_error(exc, lines, file) from None
    finally:
        if parser_class is _PyParser and parser is not None:
            parser.dispose()  # its state is a bound method of itself: a cycle holding the whole text
        if paused:
            gc.enable()
    if root is None:
        raise NnlabError("the file is empty", Location(file, 1, 1), kind="yaml")
    return root


def _syntax_error(exc: yaml.YAMLError, lines: list[str], file: str) -> NnlabError:
    if isinstance(exc, yaml.MarkedYAMLError):
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
        return NnlabError(f"YAML syntax: {problem}", loc, hint, kind="yaml")
    if isinstance(exc, yaml.reader.ReaderError):
        before = "\n".join(lines)[: max(exc.position, 0)]
        line, col = before.count("\n"), len(before) - (before.rfind("\n") + 1)
        loc = _mark_location(file, lines, line, col)
        return NnlabError(f"the file contains the control character #x{exc.character:04x}", loc,
                          "remove it (tabs, newlines and printable characters are fine).", kind="yaml")
    return NnlabError(f"YAML syntax: {exc}", Location(file), kind="yaml")  # pragma: no cover - rare


class _Composer:
    """Builds :class:`YNode` trees from parser events, enforcing the limits as it goes."""

    def __init__(self, parser: Any, lines: list[str], file: str, max_values: int) -> None:
        self.parser = parser
        self.lines = lines
        self.file = file
        self.max_values = max_values
        self.max_by_memory = limits.memory_budget() // limits.BYTES_PER_WRITTEN_VALUE
        self.limit = min(max_values, self.max_by_memory)
        self.values = 0
        self.repeated = 0
        self.anchors: dict[str, YNode | None] = {}  # None: still being built
        self.anchor_marks: dict[str, Any] = {}

    def loc(self, mark: Any, length: int = 1) -> Location:
        return _location(mark, self.lines, self.file, length)

    def document(self) -> YNode | None:
        get = self.parser.get_event
        get()  # StreamStart
        event = get()
        if not isinstance(event, yaml.DocumentStartEvent):
            return None  # an empty stream
        root = self.node(get(), 0)
        get()  # DocumentEnd
        event = get()
        if isinstance(event, yaml.DocumentStartEvent):
            raise NnlabError("the file holds more than one YAML document (a line `---`)",
                             self.loc(event.start_mark), "keep one scenario per file.", kind="yaml")
        return root

    def node(self, event: Any, depth: int) -> YNode:
        if isinstance(event, AliasEvent):
            return self.alias(event)
        anchor = event.anchor
        if anchor is not None:
            if anchor in self.anchors:
                first = self.anchor_marks[anchor]
                raise NnlabError(f"the anchor &{anchor} is defined twice", self.loc(event.start_mark),
                                 f"it is first defined on line {first.line + 1}; rename one.", kind="yaml")
            self.anchors[anchor] = None
            self.anchor_marks[anchor] = event.start_mark
        tag = event.tag
        if tag is not None and tag not in _PLAIN_TAGS:
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            raise NnlabError(f"YAML tags are not supported (found {shown})", self.loc(event.start_mark, len(shown)),
                             "nnlab reads plain numbers, lists and text, and never runs code from a file.",
                             kind="yaml")
        if isinstance(event, ScalarEvent):
            out = self.scalar(event)
        elif depth >= limits.MAX_DEPTH:
            raise NnlabError(f"lists or mappings nested more than {limits.MAX_DEPTH} levels deep",
                             self.loc(event.start_mark), kind="yaml")
        elif isinstance(event, SequenceStartEvent):
            out = self.sequence(event, depth + 1)
        else:
            out = self.mapping(event, depth + 1)
        if anchor is not None:
            self.anchors[anchor] = out
        return out

    def alias(self, event: AliasEvent) -> YNode:
        name = event.anchor
        if name not in self.anchors:
            raise NnlabError(f"the alias *{name} names no anchor", self.loc(event.start_mark, len(name) + 1),
                             f"define it first with &{name}.", kind="yaml")
        target = self.anchors[name]
        if target is None:
            raise NnlabError(f"the alias *{name} is inside its own anchor &{name} (a recursive alias)",
                             self.loc(event.start_mark, len(name) + 1), kind="yaml")
        self.repeated += target.size
        if self.repeated > limits.MAX_ALIAS_NODES:
            raise NnlabError(f"aliases expand to more than {limits.MAX_ALIAS_NODES:,} nodes",
                             self.loc(event.start_mark, len(name) + 1),
                             "write the values out, or repeat fewer of them.", kind="size")
        return target

    def scalar(self, event: ScalarEvent) -> YNode:
        self.values += 1
        if self.values > self.limit:
            raise NnlabError(f"the file holds more than {self.limit:,} values, over the limit of {self.limit:,}",
                             self.loc(event.start_mark), "raise it with --max-elements."
                             if self.limit == self.max_values else "raise the memory budget with --max-memory.",
                             kind="size")
        text = event.value
        style = event.style
        mark = event.start_mark
        if not style and event.tag is None:  # plain (None from PyYAML's parser, "" from libyaml's): kept short
            if len(text) > 24 or "e" in text or "E" in text:
                problem = limits.number_problem(text)
                if problem:
                    raise NnlabError(problem, self.loc(mark, min(len(text), 40)), kind="format")
            return YNode("scalar", resolve_scalar(text, False), text, False,
                         mark=(self.file, self.lines, mark.line, mark.column, len(text) or 1, 0))
        quoted = style in ("'", '"', "|", ">") or event.tag == "tag:yaml.org,2002:str"
        if not quoted:
            problem = limits.number_problem(text)
            if problem:
                raise NnlabError(problem, self.loc(mark, min(len(text), 40)), kind="format")
        shift = 1 if style in ("'", '"') else 0
        return YNode("scalar", resolve_scalar(text, quoted), text, quoted,
                     mark=(self.file, self.lines, mark.line, mark.column, max(1, len(text)), shift))

    def sequence(self, start: Any, depth: int) -> YNode:
        items: list[YNode] = []
        append = items.append
        size = 1
        get = self.parser.get_event
        file, lines = self.file, self.lines
        event = get()
        while type(event) is not SequenceEndEvent:
            if (type(event) is ScalarEvent and not event.style and event.tag is None and event.anchor is None
                    and self.values < self.limit):  # a plain number in a list: the bulk of a big file
                self.values += 1
                text = event.value
                if len(text) > 24 or "e" in text or "E" in text:
                    problem = limits.number_problem(text)
                    if problem:
                        raise NnlabError(problem, self.loc(event.start_mark, min(len(text), 40)), kind="format")
                mark = event.start_mark
                append(YNode("scalar", resolve_scalar(text, False), text, False,
                             mark=(file, lines, mark.line, mark.column, len(text) or 1, 0)))
                size += 1
            else:
                child = self.node(event, depth)
                append(child)
                size += child.size
            event = get()
        mark = start.start_mark
        return YNode("seq", items, size=size, mark=(self.file, self.lines, mark.line, mark.column, 1, 0))

    def mapping(self, start: Any, depth: int) -> YNode:
        out: dict[str, YNode] = {}
        key_marks: dict[str, tuple[int, int, int]] = {}  # the keys' locations, made if asked for
        size = 1
        get = self.parser.get_event
        event = get()
        while not isinstance(event, MappingEndEvent):
            if not isinstance(event, ScalarEvent):
                raise NnlabError("a mapping key must be a plain name", self.loc(start.start_mark), kind="yaml")
            if event.anchor is not None or (event.tag is not None and event.tag not in _PLAIN_TAGS):
                raise NnlabError("a mapping key must be a plain name (no anchors or tags)",
                                 self.loc(event.start_mark), kind="yaml")
            key = str(event.value)
            mark = event.start_mark
            if key == "<<":
                raise NnlabError("YAML merge keys (<<) are not supported", self.loc(mark, len(key)), kind="yaml")
            if key in out:
                raise NnlabError(
                    f"duplicate key '{_short(key, 60)}'", self.loc(mark, len(key)),
                    f"'{_short(key, 60)}' is already defined on line {key_marks[key][0] + 1}; keep one.",
                    kind="yaml",
                )
            self.values += 1
            child = self.node(get(), depth)
            out[key] = child
            key_marks[key] = (mark.line, mark.column, len(key))
            size += child.size + 1
            event = get()
        mark = start.start_mark
        return YNode("map", out, key_marks=(self.file, self.lines, key_marks), size=size,
                     mark=(self.file, self.lines, mark.line, mark.column, 1, 0))
