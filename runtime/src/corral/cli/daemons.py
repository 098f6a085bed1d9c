"""`corral master` and `corral agent` (with the operator's `corral agent drain|deactivate|reactivate`)."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import click

from corral import config
from corral.server import Server, StartupError


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, str(level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def resolve_flags(flags: list[config.Flag], cli: dict[str, Any], config_path: str | None) -> dict[str, Any]:
    """The parsed flags; a bad value ends the command with one line naming the flag (exit status 2)."""
    try:
        return config.resolve(flags, cli, config_path=config_path)
    except config.ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def run_server(server: Server) -> None:
    async def main() -> int:
        try:
            await server.start()
        except StartupError as exc:
            click.echo(f"error: {exc}", err=True)
            return 2
        await server.serve_forever()
        return 0

    sys.exit(asyncio.run(main()))


def register(group: click.Group) -> None:
    from corral.agent.flags import AGENT_FLAGS
    from corral.master.flags import MASTER_FLAGS

    @group.command("master")
    @config.click_options(MASTER_FLAGS)
    def master(config: str | None, **cli: Any) -> None:
        """Run a master (scheduler, operator and agent APIs on --port, default 5050)."""
        from corral.gc_policy import FreezeAfterFullCollections
        from corral.master.daemon import Master

        flags = resolve_flags(MASTER_FLAGS, cli, config)
        setup_logging(flags["log_level"])
        FreezeAfterFullCollections()  # the master's heap is large and long-lived (see gc_policy.py)
        run_server(Master(flags))

    @group.group("agent", invoke_without_command=True)
    @config.click_options(AGENT_FLAGS)
    @click.pass_context
    def agent(ctx: click.Context, config: str | None, **cli: Any) -> None:
        """Run an agent that registers with --master and runs its tasks.

        With a command, act on a registered agent instead (see `corral agent drain --help`).
        """
        if ctx.invoked_subcommand is not None:
            return
        from corral.agent.daemon import Agent

        flags = resolve_flags(AGENT_FLAGS, cli, config)
        setup_logging(flags["log_level"])
        run_server(Agent(flags))

    from corral.cli.agent_ops import register as register_agent_ops

    register_agent_ops(agent)
