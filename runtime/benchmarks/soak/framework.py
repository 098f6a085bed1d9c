"""A pymesos framework of the soak's workload, in its own process so that the nemesis can kill it.

It runs the workload of soak/workload.py (a few tasks in flight, everything it sees appended to
the JSON-lines history) through pymesos's MesosSchedulerDriver.  `--kind default`
uses pymesos's default FrameworkInfo; `--kind checkpoint` checkpoints, with a short
failover_timeout, and comes back with `--framework-id` after the nemesis kills it.  SIGUSR1 asks it
to finish: it stops launching, reconciles until each of its tasks has ended, tears down and exits.

    python runtime/benchmarks/soak/framework.py --kind default --master zk://... --history H --runs DIR
"""

from __future__ import annotations

import getpass
import signal
import sys
import threading
import time
from typing import Any

from pymesos import MesosSchedulerDriver, Scheduler

from workload import FAILOVER_TIMEOUT, Workload, parse_arguments, workload_for


class SoakScheduler(Scheduler):
    """pymesos's callbacks, translated into the workload's calls."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload

    def registered(self, driver, framework_id, master_info):
        live = self.workload.subscribed(framework_id["value"])
        if live:  # a new incarnation (or a new leader) asks what became of what it knows
            driver.reconcileTasks([{"task_id": {"value": t}} for t in live])

    def reregistered(self, driver, master_info):  # (pymesos, when it subscribed with the framework's id)
        self.registered(driver, {"value": driver.framework_id}, master_info)

    def resourceOffers(self, driver, offers):
        for offer in offers:
            tasks = self.workload.offer(offer)
            if tasks:
                driver.launchTasks(offer["id"], tasks)
            else:
                driver.declineOffer(offer["id"], {"refuse_seconds": 1})

    def statusUpdate(self, driver, status):
        self.workload.update(status)

    def error(self, driver, message):
        self.workload.history.write("error", message=message)


def main() -> int:
    args = parse_arguments(["default", "checkpoint"])
    workload = workload_for(args, args.kind)
    history = workload.history
    info: dict[str, Any] = {"user": getpass.getuser(), "name": f"soak-{args.kind}"}
    if args.kind == "checkpoint":
        info.update(checkpoint=True, failover_timeout=FAILOVER_TIMEOUT)
    if args.framework_id:  # (back after the nemesis, or a crash, killed this framework's scheduler)
        info["id"] = {"value": args.framework_id}
    finish = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: finish.set())
    driver = MesosSchedulerDriver(SoakScheduler(workload), info, args.master, use_addict=False)
    driver.start()
    while True:
        time.sleep(0.5)
        stop, reconcile = workload.tick(finish.is_set())
        if stop:
            break
        if reconcile:
            try:
                driver.reconcileTasks([{"task_id": {"value": t}} for t in reconcile])
            except (RuntimeError, OSError) as exc:  # (pymesos raises while it has no master: try later)
                history.write("error", message=f"reconcile: {exc}"[:200])
    history.write("finished")
    driver.stop()  # (a teardown: the soak is over for this framework)
    driver.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
