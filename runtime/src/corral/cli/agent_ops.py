"""`corral agent drain|deactivate|reactivate AGENT_ID`: the operator's DRAIN_AGENT & co. (Mesos 1.9)."""

from __future__ import annotations

import click

from corral.cli import api
from corral.cli.inspect import master_option


def register(group: click.Group) -> None:
    @group.command("drain")
    @master_option
    @click.argument("agent_id")
    @click.option("--max-grace-period", type=click.FloatRange(min=0), default=None,
                  help="Seconds: an upper bound on each task's kill grace period")
    @click.option("--mark-gone", is_flag=True, help="Mark the agent gone once it is drained")
    def drain(master: str, agent_id: str, max_grace_period: float | None, mark_gone: bool) -> None:
        """Kill the agent's tasks and offer it to nobody (DRAINING, then DRAINED)."""
        body: dict = {"agent_id": {"value": agent_id}, "mark_gone": mark_gone}
        if max_grace_period is not None:
            body["max_grace_period"] = {"nanoseconds": int(max_grace_period * 1e9)}
        api.operator_call(master, "DRAIN_AGENT", {"drain_agent": body})
        click.echo(f"Agent {agent_id} is draining")

    @group.command("deactivate")
    @master_option
    @click.argument("agent_id")
    def deactivate(master: str, agent_id: str) -> None:
        """Offer the agent to nobody; its tasks keep running."""
        api.operator_call(master, "DEACTIVATE_AGENT", {"deactivate_agent": {"agent_id": {"value": agent_id}}})
        click.echo(f"Agent {agent_id} deactivated")

    @group.command("reactivate")
    @master_option
    @click.argument("agent_id")
    def reactivate(master: str, agent_id: str) -> None:
        """Offer a deactivated or drained agent again."""
        api.operator_call(master, "REACTIVATE_AGENT", {"reactivate_agent": {"agent_id": {"value": agent_id}}})
        click.echo(f"Agent {agent_id} reactivated")
