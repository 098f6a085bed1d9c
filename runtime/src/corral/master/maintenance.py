"""The maintenance layer of the master: Mesos's maintenance schedule, machine modes and inverse offers.

A schedule is a list of windows, each a set of machines (`{hostname, ip}`)
with an `unavailability` (start and duration).  A scheduled machine is
DRAINING: its agents' offers carry the unavailability, and every framework
that runs something there gets an inverse offer, which it accepts or declines
(GET_MAINTENANCE_STATUS reports the answers).  START_MAINTENANCE brings
DRAINING machines DOWN: their agents are shut down and may not register;
STOP_MAINTENANCE brings DOWN machines back UP and off the schedule.  A machine
id matches an agent when each of its non-empty fields equals the agent's.
Schedule and DOWN machines live in the registry.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from corral.ids import wrap
from corral.master.core import CallError
from corral.master.drains import DrainBook
from corral.master.model import Agent
from corral.protocol import states as S

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Machine:
    hostname: str = ""
    ip: str = ""

    @classmethod
    def from_json(cls, data: Any, where: str) -> "Machine":
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a machine id {{hostname, ip}}")
        hostname, ip = data.get("hostname", ""), data.get("ip", "")
        if not isinstance(hostname, str) or not isinstance(ip, str):
            raise ValueError(f"{where}: 'hostname' and 'ip' must be strings")
        if not hostname and not ip:
            raise ValueError(f"{where}: Both 'hostname' and 'ip' for a machine are empty")
        return cls(hostname, ip)

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in (("hostname", self.hostname), ("ip", self.ip)) if v}

    def matches(self, agent: Agent) -> bool:
        return ((not self.hostname or self.hostname == agent.hostname)
                and (not self.ip or self.ip == str(agent.info.get("ip", ""))))


def parse_schedule(data: Any) -> list[tuple[list[Machine], dict[str, Any]]]:
    """Windows of Mesos's maintenance Schedule JSON; a ValueError names what is wrong."""
    windows = data.get("windows", []) if isinstance(data, dict) else None
    if not isinstance(windows, list):
        raise ValueError("schedule.windows: expected a list of windows")
    out, seen = [], set()
    for i, window in enumerate(windows):
        where = f"schedule.windows[{i}]"
        ids = window.get("machine_ids") if isinstance(window, dict) else None
        if not isinstance(ids, list) or not ids:
            raise ValueError(f"{where}: List of machines in the maintenance window is empty")
        machines = [Machine.from_json(m, f"{where}.machine_ids[{j}]") for j, m in enumerate(ids)]
        for machine in machines:
            if machine in seen:
                raise ValueError(f"Machine '{machine.to_json()}' appears more than once in the schedule")
            seen.add(machine)
        out.append((machines, _unavailability(window.get("unavailability"), f"{where}.unavailability")))
    return out


def parse_machines(data: Any, where: str) -> list[Machine]:
    if not isinstance(data, list) or not data:
        raise ValueError(f"{where}: List of machines is empty")
    machines = [Machine.from_json(m, f"{where}[{i}]") for i, m in enumerate(data)]
    if len(set(machines)) != len(machines):
        raise ValueError(f"{where}: a machine appears more than once")
    return machines


def _unavailability(data: Any, where: str) -> dict[str, Any]:
    start = data.get("start") if isinstance(data, dict) else None
    nanos = start.get("nanoseconds") if isinstance(start, dict) else None
    if not isinstance(nanos, int) or isinstance(nanos, bool):
        raise ValueError(f"{where}.start.nanoseconds: required, an integer")
    out: dict[str, Any] = {"start": {"nanoseconds": nanos}}
    duration = data.get("duration") if isinstance(data, dict) else None
    if duration is not None:
        length = duration.get("nanoseconds") if isinstance(duration, dict) else None
        if not isinstance(length, int) or isinstance(length, bool):
            raise ValueError(f"{where}.duration.nanoseconds: expected an integer")
        if length < 0:
            raise ValueError("Unavailability 'duration' is negative")
        out["duration"] = {"nanoseconds": length}
    return out


class MaintenanceBook(DrainBook):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.maintenance_windows: list[tuple[list[Machine], dict[str, Any]]] = []
        self.down_machines: set[Machine] = set()
        self.inverse_offers: dict[str, tuple[str, str]] = {}  # inverse offer id -> (framework id, agent id)
        self.inverse_offer_filters: dict[tuple[str, str], float] = {}  # (framework id, agent id) -> until (clock)
        # machine -> framework id -> (UNKNOWN | ACCEPT | DECLINE, when)
        self.inverse_statuses: dict[Machine, dict[str, tuple[str, float]]] = {}
        self._draining_agents: set[str] = set()  # agents of DRAINING machines: the timer looks at these only

    # -- the operator's calls ------------------------------------------------------------------

    def update_maintenance_schedule(self, windows: list[tuple[list[Machine], dict[str, Any]]]) -> None:
        scheduled = {m for machines, _ in windows for m in machines}
        for machine in self.down_machines:
            if machine not in scheduled:
                raise CallError(400, f"Machine '{machine.to_json()}' is deactivated and cannot be removed from the schedule")
        self.maintenance_windows = windows
        self._save_maintenance()
        self._refresh_unavailability()
        logger.info("Maintenance schedule: %d window(s), %d machine(s)", len(windows), len(scheduled))

    def start_maintenance(self, machines: list[Machine]) -> None:
        scheduled = self._scheduled()
        for machine in machines:
            if machine not in scheduled:
                raise CallError(400, f"Machine '{machine.to_json()}' is not part of a maintenance schedule")
            if machine in self.down_machines:
                raise CallError(400, f"Machine '{machine.to_json()}' is not in DRAINING mode and cannot be brought down")
        self.down_machines |= set(machines)
        self._save_maintenance()
        for agent in list(self.agents.values()):
            if any(m.matches(agent) for m in machines):
                logger.info("Agent %s at %s goes down for maintenance", agent.id, agent.hostname)
                self._send_agent(agent.id, {"type": "SHUTDOWN", "shutdown": {"message": "Machine is going down for maintenance"}})
                self._remove_agent_from_cluster(agent, reason=S.REASON_AGENT_REMOVED_BY_OPERATOR, gone=True)

    def stop_maintenance(self, machines: list[Machine]) -> None:
        for machine in machines:
            if machine not in self.down_machines:
                raise CallError(400, f"Machine '{machine.to_json()}' is not in DOWN mode and cannot be brought up")
        self.down_machines -= set(machines)
        self.maintenance_windows = [(kept, u) for kept, u in
                                    (([m for m in ms if m not in machines], u) for ms, u in self.maintenance_windows) if kept]
        for machine in machines:
            self.inverse_statuses.pop(machine, None)
        self._save_maintenance()
        self._refresh_unavailability()

    def answer_inverse_offers(self, framework_id: str, inverse_offer_ids: list[str], accept: bool,
                              refuse_seconds: float | None = None) -> None:
        """ACCEPT_ or DECLINE_INVERSE_OFFERS: the answer is recorded, and the agent is sent the framework
        again once the answer's filter (refuse_seconds, 5 s by default) expires, as Mesos does."""
        for offer_id in inverse_offer_ids:
            entry = self.inverse_offers.pop(offer_id, None)
            if entry is None or entry[0] != framework_id:
                continue  # unknown or rescinded: ignored, as Mesos does
            self.inverse_offer_filters[entry] = self.clock() + self._refuse(refuse_seconds)
            agent = self.agents.get(entry[1])
            machine = self._machine_of(agent) if agent is not None else None
            if machine is not None:
                self.inverse_statuses.setdefault(machine, {})[framework_id] = ("ACCEPT" if accept else "DECLINE", self.wallclock())

    # -- views ---------------------------------------------------------------------------------

    def maintenance_schedule_json(self) -> dict[str, Any]:
        return {"windows": [{"machine_ids": [m.to_json() for m in ms], "unavailability": u} for ms, u in self.maintenance_windows]}

    def maintenance_status_json(self) -> dict[str, Any]:
        draining = []
        for machine in sorted(self._scheduled() - self.down_machines, key=lambda m: (m.hostname, m.ip)):
            statuses = [{"status": status, "framework_id": wrap(fid), "timestamp": {"nanoseconds": int(when * 1e9)}}
                        for fid, (status, when) in sorted(self.inverse_statuses.get(machine, {}).items())]
            draining.append({"id": machine.to_json(), "statuses": statuses})
        down = [m.to_json() for m in sorted(self.down_machines, key=lambda m: (m.hostname, m.ip))]
        return {"draining_machines": draining, "down_machines": down}

    # -- the lower layers' events, extended ------------------------------------------------------

    def register_agent(self, info: dict[str, Any], total: Any, *args: Any, **kwargs: Any) -> Agent:
        probe = Agent(id="", info=info, total=total, registered_time=0.0)
        down = next((m for m in self.down_machines if m.matches(probe)), None)
        if down is not None:
            raise CallError(403, f"Agent on machine '{down.to_json()}' may not register: the machine is DOWN for maintenance")
        agent = super().register_agent(info, total, *args, **kwargs)
        agent.unavailability = self._unavailability_of(agent)
        if agent.unavailability is not None:
            self._draining_agents.add(agent.id)
        return agent

    def _check_agents(self, now: float) -> None:
        super()._check_agents(now)
        if self._draining_agents:
            self._send_inverse_offers()

    # -- helpers -----------------------------------------------------------------------------------

    def _scheduled(self) -> set[Machine]:
        return {m for machines, _ in self.maintenance_windows for m in machines}

    def _machine_of(self, agent: Agent) -> Machine | None:
        return next((m for ms, _ in self.maintenance_windows for m in ms if m.matches(agent)), None)

    def _unavailability_of(self, agent: Agent) -> dict[str, Any] | None:
        return next((u for ms, u in self.maintenance_windows for m in ms if m.matches(agent)), None)

    def _refresh_unavailability(self) -> None:
        for agent in self.agents.values():
            agent.unavailability = self._unavailability_of(agent)
        self._draining_agents = {a.id for a in self.agents.values() if a.unavailability is not None}
        for offer_id, (fid, aid) in list(self.inverse_offers.items()):
            target = self.agents.get(aid)
            if target is None or target.unavailability is None:
                del self.inverse_offers[offer_id]
                self._send_framework_by_id(fid, {"type": "RESCIND_INVERSE_OFFER",
                                                 "rescind_inverse_offer": {"inverse_offer_id": wrap(offer_id)}})
        self._request_allocation()  # the next offers carry the new unavailability

    def _send_inverse_offers(self) -> None:
        """An inverse offer to each framework that uses an agent of a DRAINING machine, unless one is
        outstanding or its last answer's filter holds."""
        pending = {(fid, aid) for fid, aid in self.inverse_offers.values()}
        now = self.clock()
        for key in [k for k, until in self.inverse_offer_filters.items() if until <= now]:
            del self.inverse_offer_filters[key]
        for agent_id in list(self._draining_agents):
            agent = self.agents.get(agent_id)
            if agent is None:
                self._draining_agents.discard(agent_id)  # removed (e.g. its machine went DOWN)
                continue
            if not agent.connected:
                continue
            machine = self._machine_of(agent)
            if machine is None:
                continue
            statuses = self.inverse_statuses.setdefault(machine, {})
            for framework_id in set(agent.tasks) | set(agent.executors):
                framework = self.frameworks.get(framework_id)
                key = (framework_id, agent.id)
                if framework is None or not framework.connected or key in pending or key in self.inverse_offer_filters:
                    continue
                offer_id = f"{self.id}-I{uuid.uuid4().hex[:12]}"
                self.inverse_offers[offer_id] = key
                statuses.setdefault(framework_id, ("UNKNOWN", self.wallclock()))
                self._send_framework(framework, {"type": "INVERSE_OFFERS", "inverse_offers": {"inverse_offers": [{
                    "id": wrap(offer_id), "framework_id": wrap(framework_id), "agent_id": wrap(agent.id),
                    "url": {"scheme": "http", "address": {"hostname": agent.hostname, "ip": agent.info.get("ip", agent.hostname),
                                                          "port": agent.port}, "path": "/slave(1)"},
                    "unavailability": agent.unavailability}]}})

    def _send_framework_by_id(self, framework_id: str, event: dict[str, Any]) -> None:
        framework = self.frameworks.get(framework_id)
        if framework is not None:
            self._send_framework(framework, event)

    def _save_maintenance(self) -> None:
        self.registry.set_maintenance({"schedule": self.maintenance_schedule_json(),
                                       "down": [m.to_json() for m in self.down_machines]})
