"""Orderings of clients (roles or frameworks) for the allocator.

`DRFSorter` orders clients by weighted dominant share, as Mesos's DRF sorter
does.  Clients may be hierarchical ("eng/backend"): internal nodes aggregate
their subtree's allocation and are ordered among their siblings, then their
children are ordered within them (HDRF).  A client whose path is also an
internal node ("eng" beside "eng/backend") is kept as a virtual leaf "eng/."
so that the role's own frameworks compete with its children, as in Mesos.

Each internal node keeps its children in a sorted list keyed by
(weighted share, name) that is updated incrementally when an allocation
changes, so the allocator walks the order in O(clients visited) instead of
re-sorting every client for every agent.  A change of the pool's total (an
agent added or removed) changes every share; the order is then rebuilt lazily
on the next walk.

`PrioritySorter` orders clients strictly by weight (highest first): the
"strict" sharing policy.
"""

from __future__ import annotations

from typing import Iterator, Mapping

from sortedcontainers import SortedList

VIRTUAL_LEAF = "."


class _Node:
    __slots__ = ("path", "name", "parent", "children", "order", "allocation", "key", "is_client", "active", "weight")

    def __init__(self, path: str, name: str, parent: "_Node | None") -> None:
        self.path = path
        self.name = name
        self.parent = parent
        self.children: dict[str, _Node] = {}
        self.order: SortedList = SortedList()
        self.allocation: dict[str, float] = {}
        self.key: tuple = ()
        self.is_client = False
        self.active = False
        self.weight = 1.0


class DRFSorter:
    """Weighted (hierarchical) dominant resource fairness ordering."""

    def __init__(self, hierarchical: bool = True) -> None:
        self._hierarchical = hierarchical
        self._root = _Node("", "", None)
        self._clients: dict[str, _Node] = {}
        self._weights: dict[str, float] = {}
        self._total: dict[str, float] = {}
        self._dirty = False

    # -- clients --------------------------------------------------------------

    def __contains__(self, client: str) -> bool:
        return client in self._clients

    def clients(self) -> list[str]:
        return list(self._clients)

    def add(self, client: str) -> None:
        if client in self._clients:
            return
        parts = client.split("/") if self._hierarchical else [client]
        node = self._root
        for i, part in enumerate(parts):
            child = node.children.get(part)
            if child is None:
                child = self._new_child(node, "/".join(parts[: i + 1]), part)
            elif i < len(parts) - 1 and child.is_client and not child.children:
                self._demote_to_internal(child)  # a client gains descendants
            node = child
        if node.children:  # `client` is an internal node: it lives in its virtual leaf
            node = node.children.get(VIRTUAL_LEAF) or self._new_child(node, client, VIRTUAL_LEAF)
        node.is_client = True
        self._clients[client] = node

    def remove(self, client: str) -> None:
        node = self._clients.pop(client, None)
        if node is None:
            return
        self._apply(node, {k: -v for k, v in node.allocation.items()})
        node.is_client = False
        node.active = False
        while node is not self._root and not node.children and not node.is_client:
            parent = node.parent
            assert parent is not None
            parent.order.discard(node.key)
            del parent.children[node.name]
            node = parent

    def activate(self, client: str) -> None:
        self._clients[client].active = True

    def deactivate(self, client: str) -> None:
        node = self._clients.get(client)
        if node is not None:
            node.active = False

    def is_active(self, client: str) -> bool:
        node = self._clients.get(client)
        return node is not None and node.active

    def update_weights(self, weights: Mapping[str, float]) -> None:
        self._weights = dict(weights)
        stack = [self._root]
        while stack:
            node = stack.pop()
            stack.extend(node.children.values())
            if node is not self._root:
                node.weight = self._weights.get(node.path, 1.0)
        self._dirty = True

    def weight(self, client: str) -> float:
        return self._weights.get(client, 1.0)

    # -- accounting -----------------------------------------------------------

    def add_total(self, quantities: Mapping[str, float]) -> None:
        for name, value in quantities.items():
            self._total[name] = self._total.get(name, 0.0) + value
        self._dirty = True

    def remove_total(self, quantities: Mapping[str, float]) -> None:
        for name, value in quantities.items():
            left = self._total.get(name, 0.0) - value
            if left > 1e-9:
                self._total[name] = left
            else:
                self._total.pop(name, None)
        self._dirty = True

    def allocated(self, client: str, quantities: Mapping[str, float]) -> None:
        self._apply(self._clients[client], quantities)

    def unallocated(self, client: str, quantities: Mapping[str, float]) -> None:
        self._apply(self._clients[client], {k: -v for k, v in quantities.items()})

    def allocation(self, client: str) -> dict[str, float]:
        node = self._clients.get(client)
        return dict(node.allocation) if node else {}

    def share(self, client: str) -> float:
        """Dominant share (unweighted) of a client."""
        node = self._clients.get(client)
        return self._share(node.allocation) if node else 0.0

    # -- ordering -------------------------------------------------------------

    def sort(self) -> Iterator[str]:
        """Active clients, most deserving first.  Do not mutate while iterating."""
        if self._dirty:
            self._rebuild()
        return self._walk(self._root, None)

    def sort_within(self, scopes: set[str]) -> Iterator[str]:
        """Like sort(), restricted to clients equal to or under one of `scopes`."""
        if self._dirty:
            self._rebuild()
        return self._walk(self._root, scopes)

    def _walk(self, node: _Node, scopes: set[str] | None) -> Iterator[str]:
        children = node.children
        for key in node.order:
            child = children[key[-1]]
            if scopes is not None and not _relevant(child.path, scopes):
                continue
            if child.children:
                yield from self._walk(child, scopes)
            elif child.is_client and child.active:
                yield child.path

    # -- internals ------------------------------------------------------------

    def _key(self, node: _Node) -> tuple:
        return (self._share(node.allocation) / node.weight, node.name)

    def _share(self, allocation: Mapping[str, float]) -> float:
        share = 0.0
        total = self._total
        for name, value in allocation.items():
            t = total.get(name)
            if t:
                s = value / t
                if s > share:
                    share = s
        return share

    def _new_child(self, parent: _Node, path: str, name: str) -> _Node:
        node = _Node(path, name, parent)
        node.weight = self._weights.get(path, 1.0)  # a virtual leaf carries its role's weight
        parent.children[name] = node
        node.key = self._key(node)
        parent.order.add(node.key)
        return node

    def _reposition(self, node: _Node) -> None:
        parent = node.parent
        assert parent is not None
        parent.order.discard(node.key)
        node.key = self._key(node)
        parent.order.add(node.key)

    def _apply(self, node: _Node, delta: Mapping[str, float]) -> None:
        cur: _Node | None = node
        while cur is not None and cur is not self._root:
            alloc = cur.allocation
            for name, value in delta.items():
                left = alloc.get(name, 0.0) + value
                if left > 1e-9:
                    alloc[name] = left
                else:
                    alloc.pop(name, None)
            if not self._dirty:
                self._reposition(cur)
            cur = cur.parent

    def _rebuild(self) -> None:
        stack = [self._root]
        while stack:
            node = stack.pop()
            node.order = SortedList()
            for child in node.children.values():
                child.key = self._key(child)
                node.order.add(child.key)
                stack.append(child)
        self._dirty = False

    def _demote_to_internal(self, node: _Node) -> None:
        client = node.path
        leaf = _Node(client, VIRTUAL_LEAF, node)
        leaf.allocation = dict(node.allocation)
        leaf.is_client, leaf.active, leaf.weight = True, node.active, node.weight
        node.is_client, node.active = False, False
        node.children[VIRTUAL_LEAF] = leaf
        leaf.key = self._key(leaf)
        node.order.add(leaf.key)
        self._clients[client] = leaf


def _relevant(path: str, scopes: set[str]) -> bool:
    for scope in scopes:
        if path == scope or path.startswith(scope + "/") or scope.startswith(path + "/"):
            return True
    return False


class PrioritySorter(DRFSorter):
    """Strict priority: higher weight first, ties by name; shares do not matter."""

    def _key(self, node: _Node) -> tuple:
        return (-node.weight, node.name)

    def _apply(self, node: _Node, delta: Mapping[str, float]) -> None:
        # Allocation is still tracked (for /roles), but never reorders.
        cur: _Node | None = node
        while cur is not None and cur is not self._root:
            for name, value in delta.items():
                left = cur.allocation.get(name, 0.0) + value
                if left > 1e-9:
                    cur.allocation[name] = left
                else:
                    cur.allocation.pop(name, None)
            cur = cur.parent
