"""Where the bundled scenarios live, in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path


def scenarios_dir() -> Path:
    """The folder of bundled scenarios (``nnlab/_scenarios`` when installed)."""
    here = Path(__file__).resolve().parent
    packaged = here / "_scenarios"
    if packaged.is_dir():
        return packaged
    return here.parent / "scenarios"


def bundled() -> list[Path]:
    """All bundled scenario files, sorted by name."""
    return sorted(scenarios_dir().glob("*.yaml"))


def find(name: str) -> Path | None:
    """A bundled scenario by file name or stem (``conv-basic`` or ``conv-basic.yaml``)."""
    for p in bundled():
        if name in (p.name, p.stem):
            return p
    return None
