"""The devices whitelist and GPU allocation (agent/isolators/devices.py) and their flags."""

from __future__ import annotations

import pytest

from corral.agent.isolators import parse_isolation
from corral.agent.isolators.cgroups_v1 import CgroupsIsolator
from corral.agent.isolators.devices import (DEFAULT_WHITELIST, Gpu, GpuAllocator, gpu_allocator, parse_gpu_indices,
                                            whitelist)
from corral.resources import Resources


def test_flags_name_what_is_wrong():
    assert parse_gpu_indices("0, 2") == (0, 2)
    with pytest.raises(ValueError, match="not a comma-separated list of GPU indices"):
        parse_gpu_indices("0,gpu1")
    with pytest.raises(ValueError, match="names a GPU twice"):
        parse_gpu_indices("1,1")
    with pytest.raises(ValueError, match="--nvidia_gpu_devices names 1 GPU"):
        gpu_allocator(2, (3,), dev="/nonexistent")
    with pytest.raises(ValueError, match="gpus:1.5 is not a whole number"):
        gpu_allocator(1.5, None)
    assert [g.entry for g in gpu_allocator(2, None, dev="/nonexistent").gpus] == ["c 195:0 rwm", "c 195:1 rwm"]
    isolation = parse_isolation("cgroups/cpu,cgroups/mem,gpu/nvidia")
    assert (isolation.kind, isolation.devices, isolation.gpu) == ("cgroups", True, True)
    assert str(isolation) == "cgroups,cgroups/devices,gpu/nvidia"
    assert parse_isolation("cgroups/devices").devices and not parse_isolation("cgroups/devices").gpu


def test_each_container_gets_particular_gpus_and_a_recovered_one_keeps_its_own():
    gpus = GpuAllocator(Gpu(i, 195, i) for i in range(3))
    assert gpus.allocate("a", 1) == (Gpu(0, 195, 0),)
    assert gpus.allocate("a", 1) == (Gpu(0, 195, 0),)  # asked again (new limits): the same GPU
    assert gpus.allocate("b", 2) == (Gpu(1, 195, 1), Gpu(2, 195, 2))
    with pytest.raises(ValueError, match="gpus: 1 asked, 0 of this agent's 3 GPUs are free"):
        gpus.allocate("c", 1)
    with pytest.raises(ValueError, match="gpus: 0.5 is not a whole number"):
        gpus.allocate("c", 0.5)
    gpus.release("b")
    assert gpus.free() == [Gpu(1, 195, 1), Gpu(2, 195, 2)]
    restarted = GpuAllocator(gpus.gpus)
    restarted.recover("b", "\n".join(whitelist((Gpu(2, 195, 2),), ["c 195:255 rwm"])))
    assert restarted.allocate("c", 1) == (Gpu(0, 195, 0),) and restarted.free() == [Gpu(1, 195, 1)]


def test_the_whitelist_is_mesoss_default_plus_the_containers_gpus_and_controls():
    assert whitelist((), ["c 195:255 rwm"]) == list(DEFAULT_WHITELIST)  # no GPU: not even nvidiactl
    entries = whitelist((Gpu(1, 195, 1),), ["c 195:255 rwm"])
    assert entries[-2:] == ["c 195:255 rwm", "c 195:1 rwm"] and "c 1:3 rwm" in entries


def test_a_container_that_cannot_have_its_gpus_takes_no_cgroup(tmp_path):
    for controller in ("memory", "cpu", "devices"):
        (tmp_path / controller / "corral/a").mkdir(parents=True)
    isolator = CgroupsIsolator(root=str(tmp_path), hierarchy="corral/a", gpus=GpuAllocator([Gpu(0, 195, 0)]))
    paths = isolator.prepare("one", Resources.parse("cpus:1;mem:64;gpus:1"))
    assert paths == [str(tmp_path / c / "corral/a/c1") for c in ("memory", "cpu", "devices")]
    assert (tmp_path / "devices/corral/a/c1/devices.deny").read_text() == "a"
    assert (tmp_path / "devices/corral/a/c1/devices.allow").read_text() == "c 195:0 rwm"  # (the last written)
    with pytest.raises(ValueError, match="0 of this agent's 1 GPUs are free"):
        isolator.prepare("two", Resources.parse("cpus:1;mem:64;gpus:1"))
    assert isolator.slot_of("two") is None
