"""What the master's HTTP endpoints (`http.py`, `operator.py`, the web UI) use of the master daemon.

The daemon (`daemon.Master`) owns the lifecycle, the leadership and the timers; its
endpoints only need the state while it leads, who leads, its security and a few calls.
They take a `MasterShell`, so that they neither import the daemon nor see the rest of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from aiohttp import web

    from corral.master.state import MasterState
    from corral.security.master import MasterSecurity


class MasterShell(Protocol):
    @property
    def id(self) -> str:
        """This master's id (a new one for each candidacy)."""
        ...

    @property
    def state(self) -> MasterState | None:
        """The state machine, while this master leads."""
        ...

    @property
    def leading(self) -> bool: ...

    @property
    def safe_mode(self) -> bool:
        """ZooKeeper quorum lost: nothing is allocated."""
        ...

    @property
    def security(self) -> MasterSecurity: ...

    def leader_info(self) -> dict[str, Any] | None:
        """The leading master's MasterInfo (this one's while it leads), None while none is elected."""
        ...

    def redirect_if_not_leading(self, request: web.Request) -> web.Response | None:
        """None while this master leads; else a 307 to the leader, or a 503 while none is elected."""
        ...

    def public_flags(self) -> dict[str, str]: ...

    def update_weights(self, weights: dict[str, float]) -> None: ...
