"""Device access of containers (Mesos's `cgroups/devices` and `gpu/nvidia` isolators), cgroups v1.

With `cgroups/devices` each container's `devices` cgroup is a whitelist: Mesos's default
entries (the null, zero, full, random and terminal devices, /dev/net/tun, and mknod of any
device), and with `gpu/nvidia` the GPUs the container was given plus the driver's control
devices.  A GPU is not a number of a pool but a device: `GpuAllocator` gives each container
particular ones, as Mesos's NvidiaGpuAllocator does, and recovers who holds which from the
containers' whitelists after an agent restart, since those are in the kernel.

Honest about what ran: no GPU is on the machines Corral is tested on.  The whitelists are
written to real devices cgroups and the kernel enforces them (a task opening a GPU's device
number it was not given gets EPERM, one it was given gets ENXIO: no driver); the device
numbers come from /dev/nvidia<N> where it exists, else NVIDIA's fixed major 195.
cgroups v2 has no devices files (access is an eBPF program per cgroup), which Corral does
not load: there these isolators are refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

# Mesos's DEFAULT_WHITELIST_ENTRIES of the cgroups/devices isolator.
DEFAULT_WHITELIST = (
    "c *:* m", "b *:* m",
    "c 5:1 rwm",  # /dev/console
    "c 4:0 rwm",  # /dev/tty0
    "c 4:1 rwm",  # /dev/tty1
    "c 136:* rwm",  # /dev/pts/*
    "c 5:2 rwm",  # /dev/ptmx
    "c 10:200 rwm",  # /dev/net/tun
    "c 1:3 rwm",  # /dev/null
    "c 1:5 rwm",  # /dev/zero
    "c 1:7 rwm",  # /dev/full
    "c 5:0 rwm",  # /dev/tty
    "c 1:9 rwm",  # /dev/urandom
    "c 1:8 rwm",  # /dev/random
)
NVIDIA_MAJOR = 195
CONTROL_DEVICES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools")  # under /dev


@dataclass(frozen=True, order=True)
class Gpu:
    index: int
    major: int
    minor: int

    @property
    def entry(self) -> str:
        return f"c {self.major}:{self.minor} rwm"


def parse_gpu_indices(value: str) -> tuple[int, ...]:
    """--nvidia_gpu_devices: a comma list of GPU indices (nvidia-smi's), each once."""
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not all(v.isdigit() for v in items):
        raise ValueError(f"'{value}' is not a comma-separated list of GPU indices (e.g. 0,1)")
    indices = tuple(int(v) for v in items)
    if len(set(indices)) != len(indices):
        raise ValueError(f"'{value}' names a GPU twice")
    return indices


def gpu_of(index: int, dev: str = "/dev") -> Gpu:
    """GPU `index` with the device number of /dev/nvidia<index>, or NVIDIA's (195, index)."""
    try:
        st = os.stat(os.path.join(dev, f"nvidia{index}"))
        return Gpu(index, os.major(st.st_rdev), os.minor(st.st_rdev))
    except OSError:
        return Gpu(index, NVIDIA_MAJOR, index)


def control_entries(dev: str = "/dev") -> list[str]:
    """nvidiactl (195:255 without the driver) and the UVM devices where they exist."""
    out = []
    for name in CONTROL_DEVICES:
        try:
            st = os.stat(os.path.join(dev, name))
            out.append(f"c {os.major(st.st_rdev)}:{os.minor(st.st_rdev)} rwm")
        except OSError:
            if name == "nvidiactl":
                out.append(f"c {NVIDIA_MAJOR}:255 rwm")
    return out


class GpuAllocator:
    """Which container holds which GPU; pure bookkeeping."""

    def __init__(self, gpus: Iterable[Gpu]) -> None:
        self.gpus = sorted(gpus)
        self.held: dict[str, tuple[Gpu, ...]] = {}

    def free(self) -> list[Gpu]:
        taken = {g for held in self.held.values() for g in held}
        return [g for g in self.gpus if g not in taken]

    def allocate(self, container_id: str, count: float) -> tuple[Gpu, ...]:
        """The container's GPUs for `count` (kept if it already holds that many); ValueError
        names why it cannot have them."""
        if count != int(count) or count < 0:
            raise ValueError(f"gpus: {count:g} is not a whole number of GPUs")
        held = self.held.get(container_id, ())
        if len(held) == int(count):
            return held
        free = self.free() + list(held)
        if int(count) > len(free):
            raise ValueError(f"gpus: {int(count)} asked, {len(free)} of this agent's {len(self.gpus)} GPUs are free")
        chosen = tuple(sorted(free)[: int(count)])
        self.held[container_id] = chosen
        return chosen

    def release(self, container_id: str) -> None:
        self.held.pop(container_id, None)

    def recover(self, container_id: str, devices_list: str) -> None:
        """The GPUs a recovered container's devices.list allows."""
        entries = set(devices_list.split("\n"))
        held = tuple(g for g in self.gpus if g.entry in entries)
        if held:
            self.held[container_id] = held


def whitelist(gpus: tuple[Gpu, ...], controls: list[str]) -> list[str]:
    """The devices.allow entries of a container: the defaults, and its GPUs with the control
    devices (these only for a container that has a GPU)."""
    return [*DEFAULT_WHITELIST, *((controls + [g.entry for g in gpus]) if gpus else [])]


def gpu_allocator(offered: float, indices: tuple[int, ...] | None, dev: str = "/dev") -> GpuAllocator:
    """The agent's GPUs for gpu/nvidia: --nvidia_gpu_devices, or 0 to gpus-1 of its resources;
    ValueError when the two disagree, as Mesos's agent refuses to start then."""
    if offered != int(offered):
        raise ValueError(f"--resources: gpus:{offered:g} is not a whole number of GPUs")
    if indices is None:
        indices = tuple(range(int(offered)))
    elif len(indices) != int(offered):
        raise ValueError(f"--nvidia_gpu_devices names {len(indices)} GPU(s), but the agent's resources offer "
                         f"gpus:{int(offered)}: they must be the same GPUs")
    return GpuAllocator(gpu_of(i, dev) for i in indices)
