"""All ops by name (see :mod:`nnlab.engine.ops.base`), each module imported on first use.

An op module registers its ops by being imported (``@register``). :data:`MODULES` says
which module holds which op, so looking an op up (``REGISTRY["conv2d"]``, ``"relu" in
REGISTRY``) imports only its module: ``nnlab check`` of a sigmoid neuron does not load
convolution or pooling. Listing the registry (iterating, ``len``, ``items()``) imports
every module and lists the ops in the order of :data:`MODULES`, whatever was loaded first.

Adding an op is its module (and its test) plus one line per op in :data:`MODULES`;
``tests/unit/engine/test_op_registry.py`` fails if the table and the modules disagree.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator

from nnlab.engine.ops import base
from nnlab.engine.ops.base import Op

MODULES: dict[str, str] = {
    "batch_mean": "batch", "channel_affine": "batch",
    "neg": "elementwise", "exp": "elementwise", "log": "elementwise", "sqrt": "elementwise",
    "abs": "elementwise", "sigmoid": "elementwise", "tanh": "elementwise", "relu": "elementwise",
    "step": "elementwise", "add": "elementwise", "sub": "elementwise", "mul": "elementwise",
    "div": "elementwise", "pow": "elementwise",
    "clip": "clip",
    "conv2d": "conv", "conv1d": "conv",
    "dropout_mask": "dropout", "inverted_dropout": "dropout",
    "concat": "join", "stack": "join",
    "leaky_relu": "leaky_relu",
    "matmul": "linalg", "transpose": "linalg", "reshape": "linalg", "flatten": "linalg", "index": "linalg",
    "affine": "linalg", "attention_scores": "linalg",
    "bce": "losses", "bce_logits": "losses", "mse": "losses", "cross_entropy": "losses",
    "masked_softmax": "masked_softmax",
    "maximum": "maximum", "minimum": "maximum",
    "pad": "pad",
    "maxpool2d": "pool", "avgpool2d": "pool",
    "sum": "reduce", "mean": "reduce", "max": "reduce", "min": "reduce", "prod": "reduce",
    "softmax": "reduce", "log_softmax": "reduce",
    "sign": "sign",
    "take": "take",
}
"""Op name → the module of this package that registers it, in the order the registry lists them."""


class Registry(dict):
    """The op classes by name; a lookup imports the op's module (see the module docstring).

    A ``dict`` that fills itself: ``register`` stores into it as into any dict, lookups
    by name load one module, and whatever lists it loads them all first.
    """

    def _load(self, name: object) -> None:
        module = MODULES.get(name) if isinstance(name, str) else None
        if module is not None and not dict.__contains__(self, name):
            importlib.import_module(f"{__name__}.{module}")

    def load_all(self) -> None:
        """Import every op module (for listing the registry)."""
        for module in dict.fromkeys(MODULES.values()):
            importlib.import_module(f"{__name__}.{module}")

    def __getitem__(self, name: str) -> type[Op]:
        self._load(name)
        return dict.__getitem__(self, name)

    def get(self, name: str, default: type[Op] | None = None) -> type[Op] | None:  # type: ignore[override]
        self._load(name)
        return dict.get(self, name, default)

    def __contains__(self, name: object) -> bool:
        return name in MODULES or dict.__contains__(self, name)

    def _ordered(self) -> list[str]:
        self.load_all()
        return [*(n for n in MODULES if dict.__contains__(self, n)),
                *(n for n in dict.__iter__(self) if n not in MODULES)]  # one registered outside the table

    def __iter__(self) -> Iterator[str]:
        return iter(self._ordered())

    def __len__(self) -> int:
        self.load_all()
        return dict.__len__(self)

    def keys(self):  # type: ignore[override]
        return self._ordered()

    def values(self):  # type: ignore[override]
        return [dict.__getitem__(self, n) for n in self._ordered()]

    def items(self):  # type: ignore[override]
        return [(n, dict.__getitem__(self, n)) for n in self._ordered()]

    def __repr__(self) -> str:
        return repr(dict(self.items()))


# base.register stores into base.REGISTRY: this package puts the lazy registry there before any
# op module is imported, so every `from nnlab.engine.ops.base import REGISTRY` gets this one.
REGISTRY = base.REGISTRY = Registry(base.REGISTRY)

__all__ = ["MODULES", "REGISTRY", "Op", "Registry"]
