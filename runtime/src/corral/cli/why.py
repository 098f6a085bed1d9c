"""`corral why FRAMEWORK_ID`: why a framework gets no offers (GET_WHY_NOT_OFFERED, a Corral extension)."""

from __future__ import annotations

import json
from typing import Any

import click

from corral.cli import api
from corral.cli.inspect import json_option, master_option


def describe(answer: dict[str, Any]) -> list[str]:
    """The answer as lines of text, one per role and reason."""
    lines = []
    if answer.get("message"):
        lines.append(answer["message"])
    if answer.get("outstanding_offers"):
        lines.append(f"It holds {answer['outstanding_offers']} offer(s) it has not accepted or declined.")
    for role in answer.get("roles", []):
        lines.append(f"Role {role['role']}:")
        for reason in role["reasons"]:
            count = f"{reason['agents']} agent(s): " if reason.get("agents") else ""
            lines.append(f"  {reason['reason']}: {count}{reason['message']}")
    return lines


def register(group: click.Group) -> None:
    @group.command("why")
    @master_option
    @click.argument("framework_id")
    @json_option
    def why(master: str, framework_id: str, as_json: bool) -> None:
        """Why FRAMEWORK_ID is not offered resources: for each of its roles, what keeps each agent from it."""
        answer = api.operator_call(master, "GET_WHY_NOT_OFFERED", {"get_why_not_offered": {"framework_id": {"value": framework_id}}})
        if as_json:
            click.echo(json.dumps(answer, indent=2))
            return
        for line in describe(answer):
            click.echo(line)
