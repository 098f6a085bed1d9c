"""The soak's framework written with Corral's own scheduler SDK (corral.scheduler), on its defaults.

It runs the same workload as the pymesos frameworks (soak/workload.py) with a FrameworkInfo of only
`user` and `name`; the SDK re-subscribes with its framework id when the stream breaks and
acknowledges updates itself.  SIGUSR1 asks it to finish, as framework.py does.

    python runtime/benchmarks/soak/sdk_framework.py --master zk://... --history H --runs DIR
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import signal
import sys
from typing import Any

from corral.scheduler import CALL_ERRORS, SchedulerClient
from workload import Workload, parse_arguments, workload_for


async def consume(client: SchedulerClient, workload: Workload) -> None:
    async for event in client.events():
        kind = event.get("type")
        if kind == "SUBSCRIBED":
            live = workload.subscribed(event["subscribed"]["framework_id"]["value"])
            if live:
                await _call(workload, client.reconcile(live))
        elif kind == "OFFERS":
            for offer in event["offers"].get("offers", []):
                tasks = workload.offer(offer)
                if tasks:
                    await _call(workload, client.accept([offer["id"]], tasks))
                else:
                    await _call(workload, client.decline([offer["id"]], refuse_seconds=1))
        elif kind == "UPDATE":
            workload.update(event["update"]["status"])
        elif kind == "ERROR":
            workload.history.write("error", message=event["error"].get("message", "")[:200])


async def _call(workload: Workload, call: Any) -> None:
    """A call that fails (no leader for a moment, a stream that just broke) is recorded; the
    workload's reconciliation learns what became of a launch that did not arrive."""
    try:
        await call
    except CALL_ERRORS as exc:
        workload.history.write("error", message=f"call: {exc}"[:200])


async def run(args: argparse.Namespace) -> int:
    workload = workload_for(args, "sdk")
    history = workload.history
    finish = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, finish.set)
    async with SchedulerClient(args.master, {"user": getpass.getuser(), "name": "soak-sdk"}) as client:
        if args.framework_id:
            client.framework_id = args.framework_id
        consumer = asyncio.ensure_future(consume(client, workload))
        while not consumer.done():
            await asyncio.sleep(0.5)
            stop, reconcile = workload.tick(finish.is_set())
            if stop:
                break
            if reconcile and client.stream_id:
                await _call(workload, client.reconcile(reconcile))
        if consumer.done():  # (the event stream ended with an error: the process fails, the soak records it)
            consumer.result()
            return 1
        consumer.cancel()
        history.write("finished")
        await _call(workload, client.teardown())
    return 0


def main() -> int:
    return asyncio.run(run(parse_arguments()))


if __name__ == "__main__":
    sys.exit(main())
