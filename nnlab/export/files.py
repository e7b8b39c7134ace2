"""Where an export is written, and writing it whole or not at all.

``nnlab export --out`` and the lab's palette both write through :func:`write`; the
lab puts a handout next to its scenario (``conv.yaml`` → ``conv.html``), or for a
bundled scenario, which is never written beside, in the current directory.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from nnlab.errors import NnlabError
from nnlab.library import scenarios_dir


def beside(scenario_path: str, fmt: str) -> Path:
    """The file an export of ``scenario_path`` goes to: next to it, or here for a bundled scenario."""
    path = Path(scenario_path).resolve()
    folder = Path.cwd() if path.parent == scenarios_dir().resolve() else path.parent
    return folder / f"{path.stem}.{fmt}"


def write(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file beside it, then a rename).

    A symlink's target is what gets replaced (the link stays); a device or a pipe (``/dev/stdout``,
    ``/dev/full``) is written into, never replaced by a file.

    Raises:
        NnlabError: The folder cannot be written.
    """
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isfile(path):  # a device or pipe (/dev/stdout): written into, never replaced
        try:
            with open(path, "w", encoding="utf-8") as out:
                out.write(text)
        except OSError as exc:
            raise NnlabError(f"cannot write {path}: {exc.strerror or exc}") from None
        return
    real = os.path.realpath(path)  # a symlink is written through, not replaced by a file
    folder = os.path.dirname(real)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".nnlab-export-", dir=folder)
    except OSError as exc:
        raise NnlabError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, real)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise NnlabError(f"cannot write {path}: {exc.strerror or exc}") from None


def export_beside(session: Any, scenario_path: str, fmt: str) -> Path:
    """Export ``session`` as ``fmt`` to :func:`beside` its scenario (answers checked); the path written."""
    from nnlab.export import Options, export

    target = beside(scenario_path, fmt)
    write(target, export(session, fmt, Options(answers=True)))
    return target


__all__ = ["beside", "export_beside", "write"]
