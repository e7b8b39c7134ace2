"""All ops, registered by name on import (see :mod:`nnlab.engine.ops.base`)."""

from nnlab.engine.ops import elementwise, linalg, losses, reduce  # noqa: F401
from nnlab.engine.ops.base import REGISTRY, Op

try:  # conv and pooling live in their own modules
    from nnlab.engine.ops import conv, pool  # noqa: F401
except ImportError:  # pragma: no cover - only while they are being written
    pass

__all__ = ["REGISTRY", "Op"]
