"""Frameworks written with pymesos (from PyPI), the reference Mesos v1 client."""

from __future__ import annotations

import getpass
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from pymesos import MesosSchedulerDriver, Scheduler

TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE"}


def scalar(offer: dict[str, Any], name: str) -> float:
    return sum(r["scalar"]["value"] for r in offer["resources"] if r["name"] == name and r["type"] == "SCALAR")


def command_task(task_id: str, offer: dict[str, Any], command: str, cpus: float = 0.1, mem: float = 32, **extra: Any) -> dict[str, Any]:
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": {"value": offer["agent_id"]["value"]},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
        "command": {"value": command},
        **extra,
    }


class RecordingScheduler(Scheduler):
    """Places queued task builders on offers that fit; records everything it hears."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.framework_id: str | None = None
        self.offers: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.messages: list[Any] = []
        self.errors: list[str] = []
        self.failures: list[tuple[Any, ...]] = []
        # (cpus, mem, build(offer) -> TaskInfo, or None to wait for another offer)
        self.queue: list[tuple[float, float, Callable[[dict[str, Any]], dict[str, Any] | None]]] = []
        self.decline_seconds = 1.0

    # -- queueing ------------------------------------------------------------------

    def submit(self, cpus: float, mem: float, build: Callable[[dict[str, Any]], dict[str, Any] | None], driver=None) -> None:
        with self.lock:
            self.queue.append((cpus, mem, build))
        if driver is not None:
            driver.reviveOffers()

    # -- pymesos callbacks ---------------------------------------------------------

    def registered(self, driver, framework_id, master_info):
        with self.lock:
            self.framework_id = framework_id["value"]
            self.lock.notify_all()

    def resourceOffers(self, driver, offers):
        for offer in offers:
            with self.lock:
                self.offers.append(offer)
                cpus, mem = scalar(offer, "cpus"), scalar(offer, "mem")
                tasks = []
                remaining = []
                for need_cpus, need_mem, build in self.queue:
                    task = build(offer) if need_cpus <= cpus + 1e-9 and need_mem <= mem + 1e-9 else None
                    if task is not None:  # (a builder returns None for an offer it does not want)
                        tasks.append(task)
                        cpus -= need_cpus
                        mem -= need_mem
                    else:
                        remaining.append((need_cpus, need_mem, build))
                self.queue = remaining
                self.lock.notify_all()
            if tasks:
                driver.launchTasks(offer["id"], tasks)
            else:
                driver.declineOffer(offer["id"], {"refuse_seconds": self.decline_seconds})

    def statusUpdate(self, driver, status):
        with self.lock:
            self.updates.append(status)
            self.lock.notify_all()

    def frameworkMessage(self, driver, executor_id, agent_id, message):
        with self.lock:
            self.messages.append(message)
            self.lock.notify_all()

    def executorLost(self, driver, executor_id, agent_id, status):
        with self.lock:
            self.failures.append((executor_id, agent_id, status))

    def error(self, driver, message):
        with self.lock:
            self.errors.append(message)
            self.lock.notify_all()

    # -- waiting -------------------------------------------------------------------

    def states(self, task_id: str) -> list[str]:
        with self.lock:
            return [u["state"] for u in self.updates if u["task_id"]["value"] == task_id]

    def wait(self, predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; updates={self.updates} errors={self.errors}")
                self.lock.wait(min(left, 0.2))

    def wait_state(self, task_id: str, state: str, timeout: float = 30.0) -> dict[str, Any]:
        return self.wait(
            lambda: next((u for u in self.updates if u["task_id"]["value"] == task_id and u["state"] == state), None),
            timeout, f"{task_id} to reach {state}",
        )

    def wait_terminal(self, task_id: str, timeout: float = 30.0) -> dict[str, Any]:
        return self.wait(
            lambda: next((u for u in self.updates if u["task_id"]["value"] == task_id and u["state"] in TERMINAL), None),
            timeout, f"{task_id} to end",
        )


@contextmanager
def pymesos_framework(master: str, scheduler: RecordingScheduler, name: str = "pymesos-test", **info: Any) -> Iterator[MesosSchedulerDriver]:
    framework = {"user": getpass.getuser(), "name": name, **info}
    driver = MesosSchedulerDriver(scheduler, framework, master, use_addict=False)
    driver.start()
    try:
        scheduler.wait(lambda: scheduler.framework_id, 20, "pymesos to subscribe")
        yield driver
    finally:
        driver.stop()
        driver.join()
