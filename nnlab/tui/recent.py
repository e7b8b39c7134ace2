"""Recently opened files, kept in a small JSON file under the XDG state directory.

``$XDG_STATE_HOME/nnlab/recent.json`` (default ``~/.local/state/nnlab/recent.json``).
Failures to read or write are ignored: a recent-files list is never worth an error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

LIMIT = 12


def state_file() -> Path:
    """Where the list is stored."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "nnlab" / "recent.json"


def load_recent() -> list[str]:
    """The recent files, newest first, that still exist."""
    try:
        data = json.loads(state_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, list):
        return []
    return [p for p in data if isinstance(p, str) and os.path.exists(p)][:LIMIT]


def add_recent(path: str) -> list[str]:
    """Put ``path`` first in the list and save it."""
    path = os.path.abspath(path)
    items = [path] + [p for p in load_recent() if p != path]
    items = items[:LIMIT]
    try:
        f = state_file()
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_suffix(".tmp")
        tmp.write_text(json.dumps(items, indent=1), encoding="utf-8")
        tmp.replace(f)
    except OSError:
        pass
    return items
