"""Show that a change keeps behaviour: ``run --json`` and ``check --json`` of every bundled scenario.

    python tools/golden.py save DIR      # before the change
    python tools/golden.py compare DIR   # after it: lists every file whose bytes differ

Each scenario's two outputs (stdout, then the exit code) are written exactly as the
``nnlab`` command prints them, so a refactor that claims "behaviour stays" can prove it.
"""

from __future__ import annotations

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


def main(argv: list[str]) -> int:
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
    differ = [n for n, data in current.items() if not (folder / n).exists() or (folder / n).read_bytes() != data]
    for n in differ:
        print(f"differs: {n}")
    print(f"{len(current) - len(differ)} of {len(current)} outputs byte-identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
