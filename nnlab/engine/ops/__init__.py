"""All ops, registered by name on import (see :mod:`nnlab.engine.ops.base`).

Every module of this package is imported here, so an op module registers itself by
being there: adding an op is one new module (and its test), no list to extend.
"""

import importlib
import pkgutil

from nnlab.engine.ops.base import REGISTRY, Op

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["REGISTRY", "Op"]
