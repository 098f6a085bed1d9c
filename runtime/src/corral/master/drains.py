"""The drains layer of the master: DEACTIVATE_AGENT, DRAIN_AGENT, REACTIVATE_AGENT (Mesos 1.9).

A deactivated agent keeps its tasks but is offered to nobody.  A drained one
is deactivated too and is told to kill every task (agent/drain.py); it is
DRAINING until the master's books hold no task of it (terminal updates
acknowledged, as Mesos's `checkAndTransitionDrainingAgent` requires), then
DRAINED, or gone when the config says `mark_gone`.  `deactivations` is the
truth (agent id -> DrainInfo JSON, None when only deactivated); it lives in the
registry, so a new leader and a re-registering agent pick it up.  Each Agent
mirrors it in `active` and `drain` for the views.
"""

from __future__ import annotations

import logging
from typing import Any

from corral.master.agents import AgentBook
from corral.master.core import CallError
from corral.master.model import Agent

logger = logging.getLogger(__name__)

DRAINING, DRAINED = "DRAINING", "DRAINED"


class DrainBook(AgentBook):
    def deactivate_agent(self, agent_id: str) -> None:
        self._known(agent_id)
        self.deactivations.setdefault(agent_id, None)
        self.registry.set_deactivations(self.deactivations)
        self._deactivate(agent_id)

    def drain_agent(self, agent_id: str, config: dict[str, Any]) -> None:
        """`config`: Mesos's DrainConfig JSON (`max_grace_period`, `mark_gone`)."""
        self._known(agent_id)
        self.deactivations[agent_id] = {"state": DRAINING, "config": config}
        self.registry.set_deactivations(self.deactivations)
        self._deactivate(agent_id)
        self._check_drain(agent_id)

    def reactivate_agent(self, agent_id: str) -> None:
        if agent_id not in self.deactivations:
            raise CallError(400, "Agent is not deactivated")
        info = self.deactivations[agent_id]
        if info is not None and info["state"] == DRAINING:
            raise CallError(400, "Agent is still in the DRAINING state")
        del self.deactivations[agent_id]
        self.registry.set_deactivations(self.deactivations)
        agent = self.agents.get(agent_id)
        if agent is not None:
            agent.active, agent.drain = True, None
            if agent.connected:
                self.allocator.activate_agent(agent_id)
                self._request_allocation([agent_id])
        logger.info("Agent %s reactivated", agent_id)

    # -- the agent layer's events, extended ---------------------------------------------------

    def register_agent(self, *args: Any, **kwargs: Any) -> Agent:
        agent = super().register_agent(*args, **kwargs)
        if agent.id in self.deactivations:
            self._deactivate(agent.id)  # (and a draining agent is told again: it may have restarted)
            self._check_drain(agent.id)
        return agent

    def _check_agents(self, now: float) -> None:
        super()._check_agents(now)
        for agent_id, info in list(self.deactivations.items()):
            if info is not None and info["state"] == DRAINING:
                self._check_drain(agent_id)

    # -- helpers ---------------------------------------------------------------------------------

    def _known(self, agent_id: str) -> None:
        if agent_id not in self.agents and agent_id not in self.recovered_agents and agent_id not in self.unreachable_agents:
            raise CallError(400, f"Unknown agent {agent_id!r}" if agent_id else "agent_id.value must not be empty")

    def _deactivate(self, agent_id: str) -> None:
        agent = self.agents.get(agent_id)
        if agent is None:
            return  # applied when it re-registers
        info = self.deactivations.get(agent_id)
        agent.active, agent.drain = False, info
        self.allocator.deactivate_agent(agent_id)
        self._rescind_offers_on(agent)
        if info is not None and info["state"] == DRAINING:
            logger.info("Draining agent %s at %s (%s)", agent_id, agent.hostname, info["config"] or "no config")
            self._send_agent(agent_id, {"type": "DRAIN_AGENT", "drain_agent": {"config": info["config"]}})
        else:
            logger.info("Agent %s at %s deactivated", agent_id, agent.hostname)

    def _check_drain(self, agent_id: str) -> None:
        agent = self.agents.get(agent_id)
        info = self.deactivations.get(agent_id)
        if agent is None or info is None or info["state"] != DRAINING or any(agent.tasks.values()):
            return
        if info["config"].get("mark_gone"):
            logger.info("Agent %s is drained: marking it gone", agent_id)
            del self.deactivations[agent_id]
            self.registry.set_deactivations(self.deactivations)
            self.mark_agent_gone(agent_id)
            return
        logger.info("Agent %s is drained", agent_id)
        info["state"] = DRAINED
        agent.drain = info
        self.registry.set_deactivations(self.deactivations)
