"""Answers typed in the check screen: read them like the file's ``expect:`` and save them back safely.

Typed text becomes the YAML the file will hold (:func:`yaml_value`, produced by PyYAML's
emitter, never the raw text), and the verdict shown while typing is the verdict of
reading that YAML back exactly as ``expect:`` does — so what the check screen says
is what ``nnlab check`` will say after saving.

Saving never loses the user's work (issue 18): the file is re-read right before
writing; only the spans of the answers the user changed are replaced (PyYAML's node
marks, with block-style values trimmed to their last character); an answer that also
changed on disk since the screen opened is a conflict — nothing is written unless the
user chose to overwrite it; an unreadable answer is refused; the new text goes to a
unique temporary file in the target's directory, is fsync'd and renamed over the
target (symlinks resolved, mode, ownership where allowed, and CRLF line endings kept).
Savers take an exclusive lock on the target's directory for the read-edit-rename, so
two nnlab processes saving at once both keep their answers; under that lock, temporary
files left by a saver that was killed (``kill -9``) are removed. A bundled scenario is
never edited: the answers go into a copy in the current directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import glob
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import yaml

from nnlab.errors import NnlabError
from nnlab.scenario.yamlsrc import load_yaml


class SaveRefused(NnlabError):
    """The answers were not written (a conflict, a read-only file, an unreadable answer); the message says why.

    Attributes:
        conflicts: The references changed both in the file and by the user (empty for other reasons).
        on_disk: ref → the file's answer now, for each conflict.
    """

    conflicts: list[str] = []
    on_disk: dict[str, str] = {}


class SaveResult(list):
    """The references whose answers were written (a list), and where.

    Attributes:
        path: The file written (a copy in the current directory for a bundled scenario).
        copied: True when ``path`` is a new copy of a bundled scenario.
    """

    def __init__(self, path: str, changed: Any = (), copied: bool = False) -> None:
        super().__init__(changed)
        self.path = path
        self.copied = copied


# -- typed text -> YAML -------------------------------------------------------------------------

def _expr(text: str, ref: str) -> Any:
    from nnlab.scenario.expr import parse_answer as parse_text

    return parse_text(text, None, shape=ref.replace(" ", "").startswith("shape("))


def _number_list(expr: Any) -> bool:
    """A (nested, rectangular-or-not) list whose leaves are all plain numbers."""
    from nnlab.scenario.expr import ListLit, Num

    if isinstance(expr, Num):
        return True
    return isinstance(expr, ListLit) and all(_number_list(i) for i in expr.items)


def _node(expr: Any) -> yaml.Node:
    """A YAML node writing a number or a list of numbers with the digits as typed."""
    from nnlab.scenario.expr import Num

    if isinstance(expr, Num):
        raw = str(expr.raw)
        tag = yaml.resolver.Resolver().resolve(yaml.ScalarNode, raw, (True, False))
        return yaml.ScalarNode(tag, raw)
    return yaml.SequenceNode("tag:yaml.org,2002:seq", [_node(i) for i in expr.items], flow_style=True)


def _emit(node: yaml.Node) -> str:
    out = yaml.serialize(node, Dumper=yaml.SafeDumper, allow_unicode=True, width=1 << 30)
    out = out.rstrip("\n")
    if out.endswith("\n..."):
        out = out[: -len("\n...")]
    return out.strip()


def yaml_value(text: str, ref: str = "") -> str:
    """``text`` as the YAML an ``expect:`` answer is written with (one line, made by PyYAML's emitter).

    A number keeps its written digits (they set the tolerance) and a list of numbers
    becomes a flow list; anything else (an expression, ``5x7``, text that is not an
    answer at all such as ``&a``) becomes a quoted string — never raw YAML.
    """
    t = " ".join(text.split())
    if t in ("true", "false"):
        return t
    from nnlab.scenario.model import ERROR_KINDS

    if ref == "error" and t in ERROR_KINDS:  # expect: {error: shape} is a bare word (quoted, it names no kind)
        return t
    try:
        expr = _expr(t, ref)
    except NnlabError:
        expr = None
    if expr is not None and _number_list(expr) and (not hasattr(expr, "items") or t.startswith("[")):
        return _emit(_node(expr))
    return _emit(yaml.ScalarNode("tag:yaml.org,2002:str", t, style="'"))


def parse_answer(text: str, entry: Any) -> Any:
    """A copy of ``entry`` (an ``ExpectEntry``) answering ``text``, read as the saved file will read it.

    Raises:
        NnlabError: If the text is empty or cannot be read as an answer.
    """
    from nnlab.scenario.model import read_answer  # the file's own reading of an answer

    if not text.strip():
        raise NnlabError("type an answer")
    node = load_yaml(f"v: {yaml_value(text, entry.ref)}\n").value["v"]
    answer, raw, tol = read_answer(node, entry.ref)
    if entry.explicit_tol:
        tol = entry.abs_tol
    return entry._replace(answer=answer, raw=raw, abs_tol=tol)


# -- where the answers are in the file ----------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Span:
    start: int
    end: int
    key_col: int      # the column of the answer's key (for a value on its own line)
    own_line: bool    # the value starts on a line of its own (a block list)


def _block_end(node: yaml.Node) -> int:
    """Where a node's own text ends (a block collection's end mark is the next key's start)."""
    if isinstance(node, yaml.SequenceNode | yaml.MappingNode) and not node.flow_style:
        items = node.value if isinstance(node, yaml.SequenceNode) else [v for _, v in node.value]
        if items:
            return _block_end(items[-1])
    return node.end_mark.index


def _spans(text: str) -> dict[str, _Span]:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    out: dict[str, _Span] = {}
    if not isinstance(root, yaml.MappingNode):
        return out
    for key, value in root.value:
        if key.value != "expect" or not isinstance(value, yaml.MappingNode):
            continue
        for k, v in value.value:
            ref = str(k.value)
            if isinstance(v, yaml.MappingNode):
                inner = [vv for kk, vv in v.value if kk.value == "value"]
                if not inner:
                    continue
                k, v = [kk for kk, _ in v.value if kk.value == "value"][0], inner[0]
            start, end = v.start_mark.index, _block_end(v)
            while end > start and text[end - 1] in " \t\r\n":
                end -= 1
            line_start = text.rfind("\n", 0, start) + 1
            own = not text[line_start:start].strip() and v.start_mark.line != k.start_mark.line
            out[ref] = _Span(start, end, k.start_mark.column, own)
        break
    return out


def answer_spans(text: str) -> dict[str, tuple[int, int]]:
    """``ref -> (start, end)`` character offsets of each ``expect:`` answer in ``text``."""
    return {ref: (s.start, s.end) for ref, s in _spans(text).items()}


def _shown(s: str) -> str:
    """An answer's YAML text as one editable line (outer quotes dropped)."""
    s = " ".join(line.strip() for line in s.splitlines())
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        s = s[1:-1].replace("''", "'") if s[0] == "'" else s[1:-1]
    return s


def _texts(text: str) -> dict[str, str]:
    return {ref: _shown(text[s.start:s.end]) for ref, s in _spans(text).items()}


def answer_texts(path: str) -> dict[str, str]:
    """``ref -> answer as written`` for every ``expect:`` answer of the file (parsed once; {} if unreadable)."""
    try:
        return _texts(_read(path))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}


def answer_text(entry: Any, texts: dict[str, str] | None = None) -> str:
    """The answer as written in the file (one line), for the editable cell."""
    if texts is None and entry.loc.file:
        texts = answer_texts(entry.loc.file)
    if texts and entry.ref in texts:
        return texts[entry.ref]
    raw = entry.raw
    return raw if isinstance(raw, str) else str(raw)


def _read(path: str) -> str:
    with open(path, encoding="utf-8", newline="") as f:  # newline="": CRLF stays CRLF
        return f.read()


# -- saving ---------------------------------------------------------------------------------------

def is_bundled(path: str) -> bool:
    """Whether ``path`` is one of nnlab's bundled scenarios (never edited; its answers start hidden)."""
    from nnlab.library import scenarios_dir

    try:
        return Path(path).resolve().is_relative_to(scenarios_dir().resolve())
    except OSError:
        return False


def _copy_name(path: str) -> str:
    name = Path(path).name
    dest = Path.cwd() / name
    k = 2
    while dest.exists():
        dest = Path.cwd() / f"{Path(name).stem}-{k}{Path(name).suffix}"
        k += 1
    return str(dest)


def save_answers(path: str, answers: dict[str, str], base: dict[str, str] | None = None,
                 entries: dict[str, Any] | None = None, overwrite: Any = ()) -> SaveResult:
    """Write the answers the user changed into the file's ``expect:`` block, as it is on disk now.

    Args:
        path: The scenario file (a symlink is written through to its target).
        answers: ref → typed text of the answers the user changed.
        base: ref → the answer's text when the user started editing (:func:`answer_texts`);
            an answer whose disk text differs from it changed on disk meanwhile: conflict.
        entries: ref → ``ExpectEntry``, to refuse unreadable answers before writing.
        overwrite: References whose conflict the user resolved by keeping their own answer.

    Returns:
        The references written, in the order given (empty: nothing to do), with the path written.

    Raises:
        SaveRefused: A conflict, an unreadable answer or a read-only file; nothing was written.
        OSError, UnicodeError, yaml.YAMLError: The file cannot be read, written or parsed.
    """
    for ref, typed in answers.items():  # an unreadable answer would leave a file that no longer loads
        if entries is not None and ref in entries:
            try:
                parse_answer(typed, entries[ref])
            except NnlabError as exc:
                raise SaveRefused(f"not saved: the answer for {ref} cannot be read ({exc.message})") from None
    target = os.path.realpath(path)
    with _directory_lock(target):
        _remove_stale_temporaries(target)
        return _save_locked(path, target, answers, base or {}, set(overwrite))


def _save_locked(path: str, target: str, answers: dict[str, str], base: dict[str, str],
                 overwrite: set[str]) -> SaveResult:
    text = _read(target)
    spans = _spans(text)
    disk = {ref: _shown(text[s.start:s.end]) for ref, s in spans.items()}
    conflicts = [ref for ref, typed in answers.items()
                 if ref in disk and ref in base and disk[ref] != base[ref] and ref not in overwrite
                 and disk[ref] != _shown(yaml_value(typed, ref))]
    if conflicts:
        mine = "; ".join(f"{ref}: the file has {disk[ref]}, you typed {answers[ref].strip()}" for ref in conflicts)
        exc = SaveRefused(f"not saved: {', '.join(conflicts)} changed in the file since you started editing "
                          f"({mine})")
        exc.conflicts = conflicts
        exc.on_disk = {ref: disk[ref] for ref in conflicts}
        raise exc
    edits = []
    for ref, typed in answers.items():
        span = spans.get(ref)
        if span is None:
            continue
        new = yaml_value(typed, ref)
        if text[span.start:span.end] == new:
            continue
        start = span.start
        if span.own_line:  # a block list under its key: the flow value goes on the same line, indented
            start = text.rfind("\n", 0, span.start) + 1
            new = " " * (span.key_col + 2) + new
        edits.append((start, span.end, new, ref))
    if not edits:
        return SaveResult(path, ())
    for start, end, new, _ in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    yaml.compose(text, Loader=yaml.SafeLoader)  # still YAML (raises before anything is written)
    changed = tuple(ref for *_, ref in edits)
    if is_bundled(target):
        dest = _copy_name(path)
        _write_new(dest, text)
        return SaveResult(dest, changed, copied=True)
    _replace(target, text)
    return SaveResult(path, changed)


_TEMP_SUFFIX = ".nnlab-tmp"


def _temp_prefix(target: str) -> str:
    return f".{os.path.basename(target)}."


@contextlib.contextmanager
def _directory_lock(target: str) -> Any:
    """Hold an exclusive ``flock`` on the target's directory (no lock file is left behind).

    Every nnlab saver of a file in that directory waits here, so a second saver re-reads
    the file only after the first one's rename: both answers are kept. Where the directory
    cannot be locked (another filesystem's rules), the save goes on unlocked.
    """
    try:
        fd = os.open(os.path.dirname(target) or ".", os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _remove_stale_temporaries(target: str) -> None:
    """Remove temporary files a killed saver left beside ``target`` (safe: we hold the directory lock)."""
    directory = os.path.dirname(target) or "."
    pattern = os.path.join(glob.escape(directory), glob.escape(_temp_prefix(target)) + "*" + _TEMP_SUFFIX)
    for leftover in glob.glob(pattern, include_hidden=True):
        with contextlib.suppress(OSError):
            os.unlink(leftover)


def _write_new(dest: str, text: str) -> None:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(dest)
        raise


def _replace(target: str, text: str) -> None:
    """Atomically replace ``target``'s content: unique temp file beside it, fsync, keep mode/owner, rename."""
    st = os.stat(target)
    if not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(target, os.W_OK):
        raise SaveRefused(f"not saved: {target} is read-only")
    directory = os.path.dirname(target) or "."
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=_TEMP_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), stat.S_IMODE(st.st_mode))
            with contextlib.suppress(OSError):
                os.fchown(f.fileno(), st.st_uid, st.st_gid)
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a crash
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
