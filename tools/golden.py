"""Show that a change keeps behaviour: ``run --json`` and ``check --json`` of every bundled scenario.

    python tools/golden.py save DIR      # before the change
    python tools/golden.py compare DIR   # after it: lists every file whose bytes differ
    python tools/golden.py compare DIR --without diagnosis,via   # ignoring keys a change added on purpose

Each scenario's two outputs (stdout, then the exit code) are written exactly as the
``nnlab`` command prints them, so a refactor that claims "behaviour stays" can prove it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {"run": ["run", "--json"], "check": ["check", "--json"]}


def outputs() -> dict[str, bytes]:
    """``{"NAME.run.json": bytes, …}`` for every bundled scenario."""
    out = {}
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        for kind, args in COMMANDS.items():
            cmd = [sys.executable, "-m", "nnlab", args[0], str(path), *args[1:]]
            done = subprocess.run(cmd, capture_output=True, cwd=ROOT)
            out[f"{path.stem}.{kind}.json"] = done.stdout + f"\nexit {done.returncode}\n".encode()
    return out


def _without(data: bytes, keys: set[str]) -> bytes:
    """The JSON part of an output with ``keys`` removed from every object (the exit line kept)."""
    text, _, code = data.decode().rpartition("\nexit ")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return data

    def strip(v):
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k not in keys}
        return [strip(x) for x in v] if isinstance(v, list) else v

    return (json.dumps(strip(value), indent=1, ensure_ascii=False) + "\nexit " + code).encode()


def main(argv: list[str]) -> int:
    keys: set[str] = set()
    if len(argv) == 4 and argv[2] == "--without":
        keys, argv = set(argv[3].split(",")), argv[:2]
    if len(argv) != 2 or argv[0] not in ("save", "compare"):
        print(__doc__)
        return 2
    folder = Path(argv[1])
    current = outputs()
    if argv[0] == "save":
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in current.items():
            (folder / name).write_bytes(data)
        print(f"saved {len(current)} outputs to {folder}")
        return 0
    missing = [n for n in current if not (folder / n).exists()]
    for n in missing:
        print(f"new (no saved output): {n}")
    differ = [n for n, data in current.items() if n not in missing
              and _without((folder / n).read_bytes(), keys) != _without(data, keys)]
    for n in differ:
        print(f"differs: {n}")
    what = f"identical without {', '.join(sorted(keys))}" if keys else "byte-identical"
    print(f"{len(current) - len(missing) - len(differ)} of {len(current) - len(missing)} saved outputs {what}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
