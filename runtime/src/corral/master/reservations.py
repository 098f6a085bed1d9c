"""Dynamic reservations (Mesos's RESERVE and UNRESERVE), pure: what an operation turns into what.

A reservation converts resources without changing their quantities: RESERVE
pushes a DYNAMIC reservation on top of each resource's stack (onto unreserved
resources, or refining one for an ancestor role), UNRESERVE pops it.  Both
answer `(source, converted)`: the resources the operation consumes and those
it yields; the master applies the pair to the agent's total, the allocator's
books and what is left of an offer.  A ValueError names what is wrong.
"""

from __future__ import annotations

from corral.resources import Resources, is_same_or_ancestor


def reserve(request: Resources, have: Resources, role: str | None, principal: str | None) -> tuple[Resources, Resources]:
    """RESERVE `request` (resources carrying their new reservation) out of `have`.

    `role`: the role the resources are allocated to (an offer's), None for an operator;
    `principal`: who reserves (the framework's or the operator's; None when unknown), which each
    reservation must name.
    """
    if request.is_empty():
        raise ValueError("Invalid RESERVE operation: no resources to reserve")
    for (name, reservation), _ in request.items():
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
    for (name, reservation), _ in request.items():
        if reservation is None or reservation.type != "DYNAMIC":
            raise ValueError(f"Invalid UNRESERVE operation: resource '{name}' is not dynamically reserved")
    if not have.contains(request):
        raise ValueError(f"Invalid UNRESERVE operation: {request} is not available in {have}")
    return request, request.pop_reservation()
