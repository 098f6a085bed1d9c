"""cgroups v2 isolation on a node whose kernel has the unified hierarchy (a TCG guest of the
node image; this machine's own cgroups are v1), seen by a pymesos framework with its
default FrameworkInfo: the limits written for a task and the statistics read back, an
agent restart under systemd that keeps the task and its cgroup, the memory limitation,
and the CPU cap measured."""

from __future__ import annotations

import json

import pytest

from corral.agent.isolators.cgroups_v2 import cpu_weight
from support.nodevm import start_corral
from support.pymesos_harness import RecordingScheduler, command_task, pymesos_framework

pytestmark = pytest.mark.integration

HOG = "python3 -c \"x = b'1' * (400 << 20); print(len(x))\""  # touches 400 MB
# Forks until the container's pids.max stops it (BlockingIOError: EAGAIN).
FORKER = ("python3 -c \"import os, time\n"
          "for i in range(200):\n"
          "    if os.fork() == 0: time.sleep(30); os._exit(0)\n\"")
BUSY = ("python3 -c \"import time; w, c = time.monotonic(), time.process_time()\n"
        "while time.monotonic() - w < 4: pass\n"
        "print('cpu-share', (time.process_time() - c) / (time.monotonic() - w))\"")


def cgroup_of(vm, pattern: str) -> str:
    """The cgroup2 directory of the process whose command line matches `pattern`."""
    pid = vm.ssh(f"pgrep -f -o '{pattern}'").stdout.strip()
    return "/sys/fs/cgroup" + vm.ssh(f"sed -n 's/^0:://p' /proc/{pid}/cgroup").stdout.strip()


def read(vm, path: str) -> str:
    return vm.ssh(f"cat {path}").stdout.strip()


@pytest.mark.timeout(1500)  # the node image, the disk and a TCG boot come first
def test_cgroups_v2_limits_restart_memory_limitation_and_cpu_cap(node_vm):
    vm = node_vm
    master = start_corral(vm, "--isolation", "cgroups", "--cgroups_enable_cfs", "true", "--cgroups_pids_max", "48",
                          "--resources", "'cpus:1;mem:512'")
    assert "cgroups2 isolation" in vm.ssh("journalctl -u corral-agent --no-pager").stdout
    sched = RecordingScheduler()
    with pymesos_framework(master, sched) as driver:
        sched.submit(0.5, 128, lambda o: command_task("sleeper", o, "sleep 600", cpus=0.5, mem=128), driver)
        sched.wait_state("sleeper", "TASK_RUNNING", timeout=180)
        cgroup = cgroup_of(vm, "sleep 600")
        assert cgroup.startswith("/sys/fs/cgroup/corral/agent-"), cgroup
        # The task's 0.5 cpus and 128 MB plus the command executor's allowance (0.1, 32 MB).
        assert read(vm, f"{cgroup}/memory.max") == str(160 << 20)
        assert read(vm, f"{cgroup}/memory.swap.max") == "0"
        assert read(vm, f"{cgroup}/memory.oom.group") == "1"
        assert read(vm, f"{cgroup}/cpu.max") == "60000 100000"
        assert read(vm, f"{cgroup}/cpu.weight") == str(cpu_weight(0.6))
        assert read(vm, f"{cgroup}/pids.max") == "48"
        sleeper_pid = vm.ssh("pgrep -f -o 'sleep 600'").stdout.strip()
        [entry] = json.loads(vm.ssh("python3 -c 'import urllib.request; print(urllib.request.urlopen("
                                    "\"http://127.0.0.1:5051/monitor/statistics\").read().decode())'").stdout)
        stats = entry["statistics"]
        assert entry["executor_id"] == "sleeper" and stats["mem_limit_bytes"] == 160 << 20, entry
        assert 0 < stats["mem_total_bytes"] <= stats["mem_limit_bytes"] and "cpus_system_time_secs" in stats, entry
        assert 2 <= stats["processes"] < 48, entry  # the executor, its shell and sleep

        # A restarted agent (systemd, KillMode=process) finds the task and keeps its cgroup.
        vm.ssh("systemctl restart corral-agent")
        assert vm.ssh("systemctl is-active corral-agent", check=False).stdout.strip() == "active"
        sched.wait(lambda: "re-registered" in vm.ssh("journalctl -u corral-master --no-pager").stdout, 180,
                   "the agent to re-register")
        assert vm.ssh("pgrep -f -o 'sleep 600'").stdout.strip() == sleeper_pid
        driver.killTask({"value": "sleeper"})
        assert sched.wait_terminal("sleeper", timeout=120)["state"] == "TASK_KILLED"
        sched.wait(lambda: vm.ssh(f"test -d {cgroup}", check=False).returncode != 0, 60, "the cgroup to be removed")

        sched.submit(0.1, 64, lambda o: command_task("hog", o, HOG, mem=64), driver)
        update = sched.wait_terminal("hog", timeout=180)
        assert (update["state"], update["reason"], update["source"]) == (
            "TASK_FAILED", "REASON_CONTAINER_LIMITATION_MEMORY", "SOURCE_AGENT"), update
        assert update["message"].startswith("Memory limit exceeded: Requested: 96MB Maximum Used: "), update

        sched.submit(0.1, 64, lambda o: command_task("forker", o, FORKER, mem=64), driver)
        assert sched.wait_terminal("forker", timeout=180)["state"] == "TASK_FAILED"
        err = vm.ssh("cat /var/lib/corral/agent/slaves/*/frameworks/*/executors/forker/runs/*/stderr").stdout
        assert "BlockingIOError" in err, err  # the fork past pids.max, inside the task

        sched.submit(0.5, 64, lambda o: command_task("busy", o, BUSY, cpus=0.5, mem=64), driver)
        assert sched.wait_terminal("busy", timeout=180)["state"] == "TASK_FINISHED"
        out = vm.ssh("cat /var/lib/corral/agent/slaves/*/frameworks/*/executors/busy/runs/*/stdout").stdout
    share = float(out.split()[-1])
    print(f"busy loop given 0.5 cpus (with the executor's 0.1) used {share:.2f} of the guest's CPU")
    assert share <= 0.65, share  # the CFS quota is a ceiling whatever the load
