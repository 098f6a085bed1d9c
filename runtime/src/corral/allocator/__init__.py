"""Allocators: pure modules behind one interface, chosen at master start."""

from __future__ import annotations

import importlib

from corral.allocator.hierarchical import HierarchicalAllocator, PriorityAllocator
from corral.allocator.interface import Allocation, Allocator, AllocatorOptions, Clock, RoleInfo

BUILTIN = {"drf": HierarchicalAllocator, "priority": PriorityAllocator}

__all__ = ["Allocation", "Allocator", "AllocatorOptions", "Clock", "RoleInfo", "BUILTIN", "load_allocator_class"]


class AllocatorLoadError(ValueError):
    pass


def load_allocator_class(spec: str) -> type[Allocator]:
    """`drf`, `priority` or `package.module:Class` (a user's own Allocator)."""
    if spec in BUILTIN:
        return BUILTIN[spec]
    if ":" not in spec:
        raise AllocatorLoadError(
            f"--allocator: unknown allocator '{spec}' (use {', '.join(BUILTIN)} or package.module:Class)"
        )
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AllocatorLoadError(f"--allocator: cannot import module '{module_name}': {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise AllocatorLoadError(f"--allocator: module '{module_name}' has no attribute '{class_name}'")
    if not (isinstance(cls, type) and issubclass(cls, Allocator)):
        raise AllocatorLoadError(f"--allocator: '{spec}' is not a subclass of corral.allocator.Allocator")
    return cls
