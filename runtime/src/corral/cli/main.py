"""`corral`: the command line of the Corral cluster manager."""

from __future__ import annotations

import click

from corral import __version__
from corral.cli import daemons, inspect, local, operator, quota, run, spark, why


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="corral")
def main() -> None:
    """Corral: a Mesos-style cluster manager (master, agents, DRF allocator)."""


daemons.register(main)
local.register(main)
run.register(main)
inspect.register(main)
operator.register(main)
quota.register(main)
why.register(main)
spark.register(main)


if __name__ == "__main__":
    main()
