"""A JSON Schema of scenario format v1, for editors (YAML language server) and `nnlab schema`.

The schema mirrors what :mod:`nnlab.scenario.model` accepts; nnlab's own validation
stays the authority (it also checks equations, shapes and references), the schema
gives editors completion and early red squiggles.
"""

from __future__ import annotations

from typing import Any

from nnlab.scenario.model import INITS, OPTION_KEYS, SPEC_KEYS, TOP_KEYS

SCHEMA_ID = "https://nnlab.dev/schema/scenario-v1.json"

_NUMBER_LIST: dict[str, Any] = {"type": "array", "items": {"anyOf": [{"type": "number"},
                                                                      {"$ref": "#/$defs/numbers"}]}}


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scenario file."""
    spec = {
        "type": "object",
        "required": ["shape"],
        "additionalProperties": False,
        "properties": {
            "shape": {"anyOf": [{"type": "integer", "minimum": 1},
                                {"type": "array", "items": {"type": "integer", "minimum": 1}}]},
            "init": {"enum": list(INITS)},
            "seed": {"type": "integer"},
            "scale": {"type": "number"},
        },
    }
    assert set(spec["properties"]) == set(SPEC_KEYS)
    tensor = {"anyOf": [{"type": "number"}, {"$ref": "#/$defs/numbers"}, {"$ref": "#/$defs/spec"}]}
    group = {"type": "object", "additionalProperties": {"$ref": "#/$defs/value"}}
    answer = {"anyOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string"}, {"$ref": "#/$defs/numbers"}]}
    props: dict[str, Any] = {
        "nnlab": {"const": 1, "description": "format version"},
        "title": {"type": "string", "description": "one line"},
        "topic": {"type": "string", "description": "a tag for grouping"},
        "about": {"type": "string", "description": "Markdown notes shown beside the computation"},
        "solution": {"type": "string", "description": "the worked answer (Markdown), shown only when the "
                                                      "user reveals the answers: a quiz's about asks, this answers"},
        "values": {"type": "object", "additionalProperties": {"$ref": "#/$defs/value"},
                   "description": "named tensors: numbers, nested lists, specs or groups"},
        "data": {"type": "object", "additionalProperties": {"anyOf": [{"$ref": "#/$defs/numbers"},
                                                                      {"$ref": "#/$defs/spec"}]},
                 "description": "example sets, one row per example"},
        "learn": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "compute": {"type": "array", "minItems": 1,
                    "items": {"type": "string", "pattern": r"^\s*[^\W\d][\w.]*\s*=[^=]"},
                    "description": "`name = expression` lines, in order"},
        "backward": {"type": "string", "description": "the node to differentiate"},
        "train": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "rule": {"enum": ["perceptron", "gd"]}, "predict": {"type": "string"},
                "target": {"type": "string"}, "loss": {"type": "string"}, "lr": {"type": "number"},
                "epochs": {"type": "integer", "minimum": 1}, "order": {"enum": ["sequential", "shuffle"]},
                "seed": {"type": "integer"},
                "batch": {"anyOf": [{"type": "integer", "minimum": 1}, {"const": "full"}]},
                "momentum": {"type": "number", "minimum": 0,
                             "description": "gd: μ, as PyTorch SGD: v ← μ·v + g, p ← p − η·v"},
                "weight_decay": {"type": "number", "minimum": 0,
                                 "description": "gd: λ, as PyTorch SGD: g ← g + λ·p for every learn parameter"},
                "update": {"enum": ["error", "label"],
                           "description": "perceptron: error p += η(y − ŷ)∂z/∂p (default); "
                                          "label p += η·y·∂z/∂p when y·z ≤ 0 (±1 targets)"},
            },
            "required": ["rule", "lr"],
        },
        "options": {"type": "object", "additionalProperties": False,
                    "properties": {"step_at_zero": {"type": "number"},
                                   "sign_at_zero": {"type": "number", "description": OPTION_KEYS["sign_at_zero"]},
                                   "arithmetic": {"enum": ["auto", "exact", "float"]},
                                   "max_elements": {"type": "integer", "minimum": 1,
                                                    "description": OPTION_KEYS["max_elements"]},
                                   "max_updates": {"type": "integer", "minimum": 1,
                                                   "description": OPTION_KEYS["max_updates"]}}},
        "expect": {"type": "object", "description": "reference: answer; `error: shape` or `error: domain` for a "
                                                    "scenario meant to fail", "additionalProperties": {"anyOf": [
            answer,
            {"type": "object", "required": ["value"], "additionalProperties": False,
             "properties": {"value": answer, "abs": {"type": "number"}, "rel": {"type": "number"}}},
        ]}},
        "tolerance": {"type": "object", "additionalProperties": False,
                      "properties": {"abs": {"type": "number"}, "rel": {"type": "number"}}},
    }
    assert set(props) == set(TOP_KEYS) and set(props["options"]["properties"]) == set(OPTION_KEYS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "nnlab scenario (format v1)",
        "type": "object",
        "required": ["nnlab", "title", "compute"],
        "additionalProperties": False,
        "properties": props,
        "$defs": {"numbers": _NUMBER_LIST, "spec": spec, "value": {"anyOf": [tensor, group]}},
    }
