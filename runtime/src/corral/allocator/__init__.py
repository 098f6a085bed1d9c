"""Allocators: pure modules behind one interface, chosen at master start."""

from __future__ import annotations

import importlib
import re

from corral.allocator.hierarchical import HierarchicalAllocator, PriorityAllocator
from corral.allocator.interface import Allocation, Allocator, AllocatorOptions, Clock, RoleInfo

BUILTIN = {"drf": HierarchicalAllocator, "priority": PriorityAllocator}

__all__ = [
    "Allocation", "Allocator", "AllocatorOptions", "Clock", "RoleInfo", "BUILTIN",
    "allocator_name", "check_allocator_spec", "load_allocator_class",
]

_SPEC = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


class AllocatorLoadError(ValueError):
    pass


def check_allocator_spec(spec: str) -> None:
    """Refuse a spec that is neither a built-in name nor shaped `package.module:Class`
    (the part of `load_allocator_class` that needs no import: a deploy host can check it)."""
    if spec not in BUILTIN and not _SPEC.match(spec):
        raise AllocatorLoadError(f"must be {', '.join(BUILTIN)} or package.module:Class (got '{spec}')")


def load_allocator_class(spec: str) -> type[Allocator]:
    """`drf`, `priority` or `package.module:Class` (a user's own Allocator)."""
    check_allocator_spec(spec)
    if spec in BUILTIN:
        return BUILTIN[spec]
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or whatever the module raises while it is imported
        raise AllocatorLoadError(f"cannot import module '{module_name}': {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise AllocatorLoadError(f"module '{module_name}' has no attribute '{class_name}'")
    if not (isinstance(cls, type) and issubclass(cls, Allocator)):
        raise AllocatorLoadError(f"'{spec}' is not a subclass of corral.allocator.Allocator")
    return cls


def allocator_name(cls: type[Allocator]) -> str:
    """The `--allocator` value that loads `cls`."""
    for name, builtin in BUILTIN.items():
        if cls is builtin:
            return name
    return f"{cls.__module__}:{cls.__qualname__}"
