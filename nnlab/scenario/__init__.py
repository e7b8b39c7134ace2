"""Scenario files: YAML with positions, the equation language, format v1 validation."""

from nnlab.scenario.model import Scenario, load, loads

__all__ = ["Scenario", "load", "loads"]
