"""All ops, registered by name on import (see :mod:`nnlab.engine.ops.base`)."""

from nnlab.engine.ops import conv, elementwise, linalg, losses, pool, reduce  # noqa: F401  (they register)
from nnlab.engine.ops.base import REGISTRY, Op

__all__ = ["REGISTRY", "Op"]
