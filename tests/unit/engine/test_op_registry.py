"""The op registry's table (op name → module) agrees with what the modules register,
and a lookup imports only the module it needs."""

import importlib
import pkgutil

from nnlab.engine import ops
from nnlab.engine.ops import MODULES, REGISTRY
from tests.helpers import modules_loaded_by


def test_table_names_every_registered_op_and_its_module():
    for module in pkgutil.iter_modules(ops.__path__):  # every module of the package, listed or not
        importlib.import_module(f"nnlab.engine.ops.{module.name}")
    registered = {name: cls.__module__.rsplit(".", 1)[1] for name, cls in dict.items(REGISTRY)}
    assert registered == MODULES, "MODULES in nnlab/engine/ops/__init__.py must name each op's module"
    assert list(REGISTRY) == list(MODULES) == [name for name, _ in REGISTRY.items()]
    assert len(REGISTRY) == len(MODULES) and list(REGISTRY.values()) == [REGISTRY[n] for n in MODULES]


def test_lookup_imports_only_the_ops_module():
    mods = modules_loaded_by("from nnlab.engine.ops.base import REGISTRY\n"
                             "assert 'relu' in REGISTRY and 'nope' not in REGISTRY and REGISTRY.get('nope') is None\n"
                             "assert REGISTRY['sigmoid'].name == 'sigmoid' and REGISTRY.get('conv2d').name == 'conv2d'")
    assert {"nnlab.engine.ops.elementwise", "nnlab.engine.ops.conv"} <= mods
    assert not mods & {"nnlab.engine.ops.pool", "nnlab.engine.ops.losses", "nnlab.engine.ops.dropout"}
    listed = modules_loaded_by("from nnlab.engine.ops import REGISTRY\nsorted(REGISTRY)")
    assert {f"nnlab.engine.ops.{m}" for m in MODULES.values()} <= listed
