"""Offer operations that convert resources (Mesos's RESERVE, UNRESERVE, CREATE and DESTROY), pure.

Each converts resources without changing their quantities: RESERVE pushes a
DYNAMIC reservation on top of each resource's stack (onto unreserved resources,
or refining one for an ancestor role), UNRESERVE pops it; CREATE turns reserved
disk into a persistent volume, DESTROY turns the volume back into that disk.
Each answers `(source, converted)`: the resources the operation consumes and
those it yields; the master applies the pair to the agent's total, the
allocator's books and what is left of an offer.  A ValueError names what is wrong.
"""

from __future__ import annotations

from corral.resources import Resources, is_same_or_ancestor

# Each operation's field of resources, in an offer operation's body and in its operator call's.
FIELD = {"RESERVE": "resources", "UNRESERVE": "resources", "CREATE": "volumes", "DESTROY": "volumes"}


def acl_objects(kind: str, resources: Resources) -> set[str | None]:
    """What the operation's ACL authorizes (as Mesos's): the roles reserved or created for, the
    principals that reserved (UNRESERVE) or created (DESTROY) the resources."""
    if kind in ("RESERVE", "CREATE"):
        return set(resources.reservation_roles())
    if kind == "UNRESERVE":
        return {k[1].principal for k, _ in resources.items() if k[1] is not None}
    return {k[2].principal for k, _ in resources.items() if k[2] is not None}


def reserve(request: Resources, have: Resources, role: str | None, principal: str | None) -> tuple[Resources, Resources]:
    """RESERVE `request` (resources carrying their new reservation) out of `have`.

    `role`: the role the resources are allocated to (an offer's), None for an operator;
    `principal`: who reserves (the framework's or the operator's; None when unknown), which each
    reservation must name.
    """
    if request.is_empty():
        raise ValueError("Invalid RESERVE operation: no resources to reserve")
    for (name, reservation, _), _ in request.items():
        if reservation is None or reservation.type != "DYNAMIC":
            raise ValueError(f"Invalid RESERVE operation: resource '{name}' does not carry a DYNAMIC reservation")
        if role is not None and not is_same_or_ancestor(role, reservation.role):
            raise ValueError(f"Invalid RESERVE operation: resource '{name}' is reserved for role '{reservation.role}', "
                             f"but it is allocated to role '{role}'")
        if principal is not None and reservation.principal != principal:
            raise ValueError(f"Invalid RESERVE operation: the reservation's principal '{reservation.principal or ''}' "
                             f"is not the principal that reserves ('{principal or ''}')")
    source = request.pop_reservation()
    if not have.contains(source):
        raise ValueError(f"Invalid RESERVE operation: {source} is not available in {have}")
    return source, request


def unreserve(request: Resources, have: Resources) -> tuple[Resources, Resources]:
    """UNRESERVE `request` (resources as they are reserved now) out of `have`."""
    if request.is_empty():
        raise ValueError("Invalid UNRESERVE operation: no resources to unreserve")
    for (name, reservation, volume), _ in request.items():
        if reservation is None or reservation.type != "DYNAMIC":
            raise ValueError(f"Invalid UNRESERVE operation: resource '{name}' is not dynamically reserved")
        if volume is not None:
            raise ValueError(f"Invalid UNRESERVE operation: A dynamically reserved persistent volume "
                             f"'{volume.persistence_id}' cannot be "
                             "unreserved directly. Please destroy the persistent volume first then unreserve the resource")
    if not have.contains(request):
        raise ValueError(f"Invalid UNRESERVE operation: {request} is not available in {have}")
    return request, request.pop_reservation()


def create(request: Resources, have: Resources, total: Resources, principal: str | None) -> tuple[Resources, Resources]:
    """CREATE the persistent volumes `request` out of the reserved disk in `have`.

    `total`: the agent's resources, whose volumes' ids must stay unique per role;
    `principal`: who creates (None when unknown), which each volume's persistence must name.
    """
    if request.is_empty():
        raise ValueError("Invalid CREATE operation: no volumes to create")
    ids = {(key[1].role, key[2].persistence_id) for key, _ in total.volumes().items() if key[1] and key[2]}
    for (name, reservation, volume), _ in request.items():
        if volume is None or reservation is None:
            raise ValueError(f"Invalid CREATE operation: Not a persistent volume: resource '{name}' "
                             "has no 'disk.persistence'")
        if volume.mode == "RO":
            raise ValueError("Invalid CREATE operation: Not a persistent volume: Read-only persistent volume not supported")
        if (reservation.role, volume.persistence_id) in ids:
            raise ValueError(f"Invalid CREATE operation: Persistence ID '{volume.persistence_id}' is not unique")
        ids.add((reservation.role, volume.persistence_id))
        if principal is not None and volume.principal != principal:
            raise ValueError(f"Invalid CREATE operation: Create volume operation attempted by principal '{principal}', "
                             f"which does not match a volume in the operation with principal "
                             f"'{volume.principal or ''}' set in 'disk.persistence'")
    source = request.without_volumes()
    if not have.contains(source):
        raise ValueError(f"Invalid CREATE operation: {source} is not available in {have}")
    return source, request


def destroy(request: Resources, have: Resources) -> tuple[Resources, Resources]:
    """DESTROY the persistent volumes `request` found (unused) in `have`."""
    if request.is_empty():
        raise ValueError("Invalid DESTROY operation: no volumes to destroy")
    if request.volumes() != request:
        raise ValueError("Invalid DESTROY operation: Not a persistent volume: 'persistence' is not set in DiskInfo")
    if not have.contains(request):
        raise ValueError(f"Invalid DESTROY operation: Persistent volumes not found: {request} is not in {have}")
    return request, request.without_volumes()


def convert(kind: str, request: Resources, have: Resources, total: Resources, role: str | None,
            principal: str | None) -> tuple[Resources, Resources]:
    """The operation `kind` (RESERVE, UNRESERVE, CREATE or DESTROY) of `request` out of `have`."""
    if kind == "RESERVE":
        return reserve(request, have, role, principal)
    if kind == "UNRESERVE":
        return unreserve(request, have)
    if kind == "CREATE":
        return create(request, have, total, principal)
    return destroy(request, have)
