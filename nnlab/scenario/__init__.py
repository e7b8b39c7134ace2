"""Scenario files: YAML with positions, the equation language, format v1 validation.

``Scenario``, ``load`` and ``loads`` are imported on first use, so a tool that only
reads YAML (``nnlab list`` reads each title) does not pay for NumPy and the model.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nnlab.scenario.model import Scenario, load, loads

__all__ = ["Scenario", "load", "loads"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from nnlab.scenario import model

        return getattr(model, name)
    raise AttributeError(f"module 'nnlab.scenario' has no attribute {name!r}")
