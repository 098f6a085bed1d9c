"""Whether the kernel killed an image container for memory (cgroups v1).

The container runs in a cgroup of the tool's (podman's), outside the executor's, and the tool
removes it as the container exits: by the time `<tool> run` returns, nothing is left to read.
So, as Mesos's v1 memory isolator does, the watch registers an eventfd on the container's own
`memory.oom_control` through `cgroup.event_control` while it runs, and on the event reads the
counters there.  (podman 4.3's conmon misses these OOMs on the hybrid v1 layout: `inspect`
says OOMKilled false.)  On cgroups v2 the container's memory.events is not watched yet.
Standard library only: the executor is forked from a lean zygote.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

V1_MEMORY = "/sys/fs/cgroup/memory"


def v1_memory_cgroup(proc_cgroup: str) -> str | None:
    """The memory cgroup path a /proc/<pid>/cgroup text names on a v1 hierarchy, else None."""
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and "memory" in parts[1].split(","):
            return parts[2]
    return None


def oom_kills(oom_control: str) -> int:
    """The oom_kill counter of a v1 memory.oom_control text."""
    for line in oom_control.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return 0


class OomWatch:
    """Watches the container `name` of a running `<tool> run` process; `killed` is then
    (limit, max used) in bytes if the kernel killed a process of it for memory."""

    def __init__(self, tool: str, name: str, running: Callable[[], bool]) -> None:
        self.tool, self.name, self.running = tool, name, running
        self.killed: tuple[int, int] | None = None
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _watch(self) -> None:
        directory = self._cgroup()
        if directory is None:
            return
        try:
            efd = os.eventfd(0)
            control = os.open(os.path.join(directory, "memory.oom_control"), os.O_RDONLY)
            with open(os.path.join(directory, "cgroup.event_control"), "w") as fh:
                fh.write(f"{efd} {control}")
        except OSError:
            return
        try:
            while self.killed is None and os.path.isdir(directory):
                os.eventfd_read(efd)  # an OOM in the cgroup (notified before its kill), or the cgroup's removal
                deadline = time.monotonic() + 1.0
                while self.killed is None and os.path.isdir(directory) and time.monotonic() < deadline:
                    self.killed = _counters(directory)
                    time.sleep(0.01)
        except OSError:
            pass
        finally:
            os.close(control)
            os.close(efd)

    def _cgroup(self) -> str | None:
        """The container's v1 memory cgroup directory, once its process exists."""
        while self.running():
            inspected = subprocess.run([self.tool, "inspect", "--format", "{{.State.Pid}}", self.name],
                                       capture_output=True, text=True)
            pid = inspected.stdout.strip()
            if inspected.returncode == 0 and pid.isdigit() and pid != "0":
                try:
                    with open(f"/proc/{pid}/cgroup") as fh:
                        path = v1_memory_cgroup(fh.read())
                except OSError:
                    return None
                return os.path.join(V1_MEMORY, path.lstrip("/")) if path is not None else None
            time.sleep(0.05)
        return None


def _counters(directory: str) -> tuple[int, int] | None:
    """(limit, max used) if the cgroup counted an OOM kill; None if it has gone or counted none."""
    try:
        with open(os.path.join(directory, "memory.oom_control")) as fh:
            if oom_kills(fh.read()) == 0:
                return None
        with open(os.path.join(directory, "memory.limit_in_bytes")) as fh:
            limit = int(fh.read())
        with open(os.path.join(directory, "memory.max_usage_in_bytes")) as fh:
            used = int(fh.read())
    except (OSError, ValueError):
        return None
    return limit, used
