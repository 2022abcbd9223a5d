"""``custom``: any importable ``module:function`` that maps a tile to integer labels."""

from __future__ import annotations

import importlib
from functools import partial
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from . import Context, Method

if TYPE_CHECKING:
    from ..pipeline.plan import Plan


def import_function(spec: str) -> Any:
    """Import ``module:function`` (the function may be a dotted attribute path)."""
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ConfigError(
            f"method.custom.function: {spec!r} is not of the form 'package.module:function'"
        )
    module_name, attr = spec.split(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(
            f"method.custom.function: cannot import module {module_name!r} ({err}); "
            "install it or put it on PYTHONPATH"
        ) from err
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"method.custom.function: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"method.custom.function: {spec!r} is not callable")
    return obj


class CustomMethod(Method):
    """``method.custom``: your function, imported by each job that runs it."""

    def check(self, plan: Plan, import_code: bool = True) -> None:
        if not import_code:
            return
        if not self.section["function"]:
            raise ConfigError("method.custom.function: required when method.name is 'custom'; "
                              "give 'package.module:function'")
        import_function(self.section["function"])

    def build(self, context: Context) -> Any:
        return partial(import_function(self.section["function"]), **self.section.get("kwargs", {}))


METHOD = CustomMethod
