"""The enabled business modules, in load order (a module's dependencies come first)."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from collector.modules import CollectorModule

MODULE_NAMES: tuple[str, ...] = ("notify", "visitors", "venues", "burn", "experts")


@cache
def modules() -> tuple[CollectorModule, ...]:
    """Import each module's ``module.py`` and return its ``MODULE``."""
    found = []
    for name in MODULE_NAMES:
        module = import_module(f"collector.modules.{name}.module").MODULE
        if not isinstance(module, CollectorModule) or module.name != name:
            raise TypeError(f"collector.modules.{name}.MODULE is not CollectorModule({name!r})")
        found.append(module)
    return tuple(found)


def module(name: str) -> CollectorModule:
    for candidate in modules():
        if candidate.name == name:
            return candidate
    raise LookupError(f"no collector module {name!r}")
