"""Whether the kernel killed an image container for memory.

The container runs in a cgroup of the tool's (podman's), outside the executor's, and the tool
removes it as the container exits: by the time `<tool> run` returns, nothing is left to read.
So the watch waits on the container's own cgroup while it runs and reads the counters there
when the kernel signals:
- cgroups v1, as Mesos's v1 memory isolator does: an eventfd on `memory.oom_control`
  through `cgroup.event_control`, then oom_kill, memory.limit_in_bytes, max_usage_in_bytes
  (podman 4.3's conmon misses these OOMs on the hybrid v1 layout: `inspect` says OOMKilled false);
- cgroups v2: poll() on `memory.events`, which the kernel notifies (POLLPRI) when a counter
  changes, then its oom_kill, memory.max and memory.peak.  This path is unit-tested against
  files only: the cgroups v2 machines here (the VM nodes) have no podman.
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

CGROUP_ROOT = "/sys/fs/cgroup"
V1_MEMORY = CGROUP_ROOT + "/memory"
V2_POLL_MS = 200  # also re-read on this period: a wake-up missed between two reads costs no more


def v1_memory_cgroup(proc_cgroup: str) -> str | None:
    """The memory cgroup path a /proc/<pid>/cgroup text names on a v1 hierarchy, else None."""
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and "memory" in parts[1].split(","):
            return parts[2]
    return None


def v2_cgroup(proc_cgroup: str) -> str | None:
    """The unified-hierarchy cgroup path of a /proc/<pid>/cgroup text (its `0::` line), else None."""
    for line in proc_cgroup.splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


def oom_kills(oom_control: str) -> int:
    """The oom_kill counter of a v1 memory.oom_control or a v2 memory.events text."""
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
        found = self._cgroup()
        if found is None:
            return
        version, directory = found
        if version == 2:
            self.killed = watch_v2(directory)
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

    def _cgroup(self) -> tuple[int, str] | None:
        """(1 or 2, the container's memory cgroup directory), once its process exists."""
        while self.running():
            inspected = subprocess.run([self.tool, "inspect", "--format", "{{.State.Pid}}", self.name],
                                       capture_output=True, text=True)
            pid = inspected.stdout.strip()
            if inspected.returncode == 0 and pid.isdigit() and pid != "0":
                try:
                    with open(f"/proc/{pid}/cgroup") as fh:
                        text = fh.read()
                except OSError:
                    return None
                return cgroup_of(text, CGROUP_ROOT)
            time.sleep(0.05)
        return None


def cgroup_of(proc_cgroup: str, root: str) -> tuple[int, str] | None:
    """Where a process's memory is accounted: its v1 memory cgroup, else its v2 cgroup if
    `root` is a unified hierarchy (a hybrid layout's 0:: line has no memory controller)."""
    path = v1_memory_cgroup(proc_cgroup)
    if path is not None:
        return 1, os.path.join(root, "memory", path.lstrip("/"))
    path = v2_cgroup(proc_cgroup)
    if path is not None and os.path.exists(os.path.join(root, "cgroup.controllers")):
        directory = os.path.join(root, path.lstrip("/"))
        return (2, directory) if os.path.exists(os.path.join(directory, "memory.events")) else None
    return None


def watch_v2(directory: str) -> tuple[int, int] | None:
    """Wait until the v2 cgroup counts an OOM kill, (limit, peak), or is removed (None)."""
    import select

    try:
        events = os.open(os.path.join(directory, "memory.events"), os.O_RDONLY)
    except OSError:
        return None
    poller = select.poll()
    poller.register(events, select.POLLPRI | select.POLLERR)
    try:
        while True:
            killed = _counters_v2(directory, events)
            if killed is not None or not os.path.isdir(directory):
                return killed
            ready = poller.poll(V2_POLL_MS)
            if ready and not ready[0][1] & (select.POLLPRI | select.POLLERR):
                time.sleep(V2_POLL_MS / 1000)  # a plain file is always readable: no notifications, so a period
    except OSError:
        return None
    finally:
        os.close(events)


def _counters_v2(directory: str, events: int) -> tuple[int, int] | None:
    os.lseek(events, 0, os.SEEK_SET)  # a kernfs file is read again from its start (this also re-arms poll)
    if oom_kills(os.read(events, 4096).decode()) == 0:
        return None
    return _int_of(os.path.join(directory, "memory.max")), _int_of(os.path.join(directory, "memory.peak"))


def _int_of(path: str) -> int:
    """A cgroup file's number (0 for `max`, or if it cannot be read)."""
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return 0
    return int(text) if text.isdigit() else 0


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
