"""cgroups isolation seen by a pymesos framework with default FrameworkInfo: a task over its
memory limit fails with Mesos's limitation reason, and --cgroups_enable_cfs caps a busy loop
at its cpus. The agents run with --isolation cgroups, so a host where the agent cannot make
cgroups fails these tests instead of quietly running them unisolated."""

from __future__ import annotations

import subprocess
import urllib.request

import pytest

from support.cluster import free_port, http_error, http_json, read_sandbox_file, sandbox_of, wait_for
from support.pymesos_harness import RecordingScheduler, command_task, pymesos_framework

pytestmark = pytest.mark.integration

HOG = "python3 -c \"x = b'1' * (400 << 20); print(len(x))\""  # touches 400 MB
BUSY = ("python3 -c \"import time; w, c = time.monotonic(), time.process_time()\n"
        "while time.monotonic() - w < 4: pass\n"
        "print('cpu-share', (time.process_time() - c) / (time.monotonic() - w))\"")


def test_a_task_over_its_memory_limit_fails_with_the_memory_limitation(cluster):
    cluster.start_master()
    cluster.add_agent("cpus:1;mem:512", "--isolation", "cgroups")
    sched = RecordingScheduler()
    with pymesos_framework(cluster.master.address, sched) as driver:
        sched.submit(0.1, 64, lambda o: command_task("hog", o, HOG, mem=64), driver)
        update = sched.wait_terminal("hog", timeout=60)
    assert (update["state"], update["reason"], update["source"]) == (
        "TASK_FAILED", "REASON_CONTAINER_LIMITATION_MEMORY", "SOURCE_AGENT"), update
    # The container's limit is the task's 64 MB plus the command executor's allowance, 32 MB, as in Mesos.
    assert update["message"].startswith("Memory limit exceeded: Requested: 96MB Maximum Used: "), update
    [used] = update["limitation"]["resources"]
    assert used["name"] == "mem" and 64 < used["scalar"]["value"] <= 96, used


def test_cfs_caps_a_busy_loop_at_its_cpus(cluster):
    cluster.start_master()
    cluster.add_agent("cpus:2;mem:512", "--isolation", "cgroups", "--cgroups_enable_cfs", "true")
    sched = RecordingScheduler()
    with pymesos_framework(cluster.master.address, sched) as driver:
        sched.submit(0.5, 64, lambda o: command_task("busy", o, BUSY, cpus=0.5, mem=64), driver)
        update = sched.wait_terminal("busy", timeout=60)
        assert update["state"] == "TASK_FINISHED", update
        agent, directory = sandbox_of(cluster, "busy")
        share = float(read_sandbox_file(agent, directory + "/stdout").split()[-1])
    print(f"busy loop given 0.5 cpus (with the executor's 0.1) used {share:.2f} of a CPU")
    # The quota is a ceiling the kernel enforces whatever the machine's load: 0.6 cpus in all.
    assert share <= 0.65, share


def test_a_task_in_a_docker_image_fails_to_launch_instead_of_running_on_the_host(cluster):
    cluster.start_master()
    cluster.add_agent("cpus:1;mem:512")
    sched = RecordingScheduler()
    container = {"type": "DOCKER", "docker": {"image": "busybox:1.36", "network": "HOST"}}
    with pymesos_framework(cluster.master.address, sched) as driver:
        sched.submit(0.1, 32, lambda o: command_task("boxed", o, "true", container=container), driver)
        update = sched.wait_terminal("boxed")
    assert (update["state"], update["reason"]) == ("TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED"), update
    assert "(asked for docker:busybox:1.36)" in update["message"], update
    assert sched.states("boxed") == ["TASK_FAILED"]


def test_monitor_statistics_report_each_executors_usage_and_limits_from_its_cgroups(cluster):
    cluster.start_master()
    agent = cluster.add_agent("cpus:1;mem:512", "--isolation", "cgroups")
    sched = RecordingScheduler()
    with pymesos_framework(cluster.master.address, sched) as driver:
        sched.submit(0.5, 128, lambda o: command_task("sleeper", o, "sleep 60", cpus=0.5, mem=128), driver)
        sched.wait_state("sleeper", "TASK_RUNNING")
        [entry] = http_json(f"http://{agent.address}/monitor/statistics")
        driver.killTask({"value": "sleeper"})
        sched.wait_terminal("sleeper")
    assert (entry["executor_id"], entry["framework_id"], entry["source"]) == ("sleeper", sched.framework_id, "sleeper")
    stats = entry["statistics"]
    assert stats["cpus_limit"] == pytest.approx(0.6)  # with the command executor's allowance
    assert stats["mem_limit_bytes"] == 160 << 20  # as its memory cgroup says
    # (rss counts pages the executor shares with the fork server that started it; the cgroup does not)
    assert stats["mem_rss_bytes"] > 0 and 0 < stats["mem_total_bytes"] <= stats["mem_limit_bytes"]
    assert stats["cpus_user_time_secs"] >= 0 and stats["cpus_system_time_secs"] >= 0


def test_the_agents_operator_api_lists_containers_with_their_statistics(cluster):
    cluster.start_master()
    agent = cluster.add_agent("cpus:1;mem:512", "--isolation", "cgroups")
    api = f"http://{agent.address}/api/v1"
    sched = RecordingScheduler()
    with pymesos_framework(cluster.master.address, sched) as driver:
        sched.submit(0.5, 128, lambda o: command_task("sleeper", o, "sleep 60", cpus=0.5, mem=128), driver)
        sched.wait_state("sleeper", "TASK_RUNNING")
        answer = http_json(api, {"type": "GET_CONTAINERS", "get_containers": {"show_nested": False}})
        driver.killTask({"value": "sleeper"})
        sched.wait_terminal("sleeper")
    assert answer["type"] == "GET_CONTAINERS"
    [container] = answer["get_containers"]["containers"]
    assert container["executor_id"] == {"value": "sleeper"} and container["framework_id"] == {"value": sched.framework_id}
    assert container["container_status"]["executor_pid"] > 0
    assert container["resource_statistics"]["mem_limit_bytes"] == 160 << 20
    assert http_json(api, {"type": "GET_HEALTH"}) == {"type": "GET_HEALTH", "get_health": {"healthy": True}}
    flags = {f["name"]: f["value"] for f in http_json(api, {"type": "GET_FLAGS"})["get_flags"]["flags"]}
    assert flags["isolation"] == "cgroups"
    status, text = http_error(api, {"type": "LAUNCH_NESTED_CONTAINER"})
    assert status == 400 and "'LAUNCH_NESTED_CONTAINER' is not supported" in text and "GET_CONTAINERS" in text


def test_a_sandbox_over_its_disk_fails_its_task_with_the_disk_limitation(cluster):
    cluster.start_master()
    agent = cluster.add_agent("cpus:1;mem:512;disk:1024", "--isolation", "cgroups/cpu,cgroups/mem,disk/du",
                              "--enforce_container_disk_quota", "true", "--container_disk_watch_interval", "0.2")
    sched = RecordingScheduler()
    filler = "dd if=/dev/urandom of=big bs=1M count=30 status=none && sleep 60"

    def with_disk(task_id, offer, command, disk):
        task = command_task(task_id, offer, command)
        task["resources"].append({"name": "disk", "type": "SCALAR", "scalar": {"value": disk}})
        return task

    with pymesos_framework(cluster.master.address, sched) as driver:
        sched.submit(0.1, 32, lambda o: with_disk("small", o, "sleep 60", 10), driver)
        sched.wait_state("small", "TASK_RUNNING")
        sched.wait(lambda: "disk_used_bytes" in http_json(f"http://{agent.address}/monitor/statistics")[0]["statistics"],
                   what="disk/du to measure the sandbox")
        [entry] = http_json(f"http://{agent.address}/monitor/statistics")
        assert entry["statistics"]["disk_limit_bytes"] == 10 << 20
        driver.killTask({"value": "small"})
        sched.wait_terminal("small")
        sched.submit(0.1, 32, lambda o: with_disk("filler", o, filler, 10), driver)
        update = sched.wait_terminal("filler", timeout=60)
    assert (update["state"], update["reason"], update["source"]) == (
        "TASK_FAILED", "REASON_CONTAINER_LIMITATION_DISK", "SOURCE_AGENT"), update
    assert update["message"].startswith("Disk usage (") and update["message"].endswith(") exceeds quota (10MB)"), update
    [used] = update["limitation"]["resources"]
    assert used["name"] == "disk" and used["scalar"]["value"] > 10


def podman_names():
    out = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_a_task_runs_in_a_local_image_with_its_sandbox_and_limits_over_which_it_fails_and_a_missing_image_is_named(cluster, node_image):
    cluster.start_master()
    cluster.add_agent("cpus:1;mem:512", "--containerizers", "mesos,docker")
    sched = RecordingScheduler()
    image = {"type": "DOCKER", "docker": {"image": node_image, "network": "HOST"}}
    look = ("test -x /usr/local/sbin/corral-configdrive && echo image-file-seen; echo sandbox=$MESOS_SANDBOX; "
            "echo from-the-task > $MESOS_SANDBOX/written; "
            "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes")
    with pymesos_framework(cluster.master.address, sched) as driver:
        sched.submit(0.5, 96, lambda o: command_task("imaged", o, look, cpus=0.5, mem=96, container=image), driver)
        update = sched.wait_terminal("imaged", timeout=120)
        assert update["state"] == "TASK_FINISHED", update
        agent, directory = sandbox_of(cluster, "imaged")
        out = read_sandbox_file(agent, directory + "/stdout")
        assert "image-file-seen" in out and "sandbox=/mnt/mesos/sandbox" in out, out
        assert str(96 << 20) in out.split(), out  # the task sees its memory limit inside the container
        assert read_sandbox_file(agent, directory + "/written").strip() == "from-the-task"

        # Killed, it goes with its container.
        sched.submit(0.1, 32, lambda o: command_task("long", o, "sleep 300", container=image), driver)
        sched.wait_state("long", "TASK_RUNNING", timeout=120)
        wait_for(lambda: any(n.startswith("mesos-long.") for n in podman_names()), what="its container")
        driver.killTask({"value": "long"})
        assert sched.wait_terminal("long", timeout=60)["state"] == "TASK_KILLED"
        wait_for(lambda: not any(n.startswith("mesos-long.") for n in podman_names()), what="the container to go")

        # Over its memory, the kernel kills it in its container: the agent reports Mesos's memory limitation.
        sched.submit(0.1, 64, lambda o: command_task("imaged-hog", o, HOG, mem=64, container=image), driver)
        hog = sched.wait_terminal("imaged-hog", timeout=120)
        assert (hog["state"], hog["reason"], hog["source"]) == (
            "TASK_FAILED", "REASON_CONTAINER_LIMITATION_MEMORY", "SOURCE_AGENT"), hog
        assert hog["message"].startswith("Memory limit exceeded: Requested: 64MB Maximum Used: "), hog
        [used] = hog["limitation"]["resources"]
        assert used["name"] == "mem" and 0 < used["scalar"]["value"] <= 64, used

        missing = {"type": "DOCKER", "docker": {"image": "localhost/no-such-image:1"}}
        sched.submit(0.1, 32, lambda o: command_task("nowhere", o, "true", container=missing), driver)
        failed = sched.wait_terminal("nowhere", timeout=60)
    assert (failed["state"], failed["reason"]) == ("TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED"), failed
    assert "image 'localhost/no-such-image:1' is not in the agent's local image storage" in failed["message"], failed


@pytest.fixture
def bridge_network():
    """A bridge network of the test's own (podman's default one would do; this one is removed after)."""
    name = "corral-test-bridge"
    subprocess.run(["podman", "network", "rm", "-f", name], capture_output=True)
    subprocess.run(["podman", "network", "create", "--subnet", "10.231.7.0/24", name], capture_output=True, check=True)
    yield name
    subprocess.run(["podman", "network", "rm", "-f", name], capture_output=True)


def test_a_bridge_container_serves_on_its_mapped_host_port_of_the_agents_ip(cluster, node_image, bridge_network):
    port = free_port()
    cluster.start_master()
    cluster.add_agent(f"cpus:1;mem:512;ports:[{port}-{port}]", "--containerizers", "mesos,docker",
                      "--docker_bridge_network", bridge_network)
    sched = RecordingScheduler()
    container = {"type": "DOCKER", "hostname": "bridged-web",
                 "docker": {"image": node_image, "network": "BRIDGE",
                            "port_mappings": [{"host_port": port, "container_port": 8080, "protocol": "tcp"}]}}
    ports = {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": port, "end": port}]}}
    serve = "cd $MESOS_SANDBOX && cat /etc/hostname > name && exec python3 -m http.server 8080"

    def web(offer):
        task = command_task("web", offer, serve, container=container)
        task["resources"].append(ports)
        return task

    with pymesos_framework(cluster.master.address, sched) as driver:
        sched.submit(0.1, 64, web, driver)
        sched.wait_state("web", "TASK_RUNNING", timeout=120)
        # (loopback: the agent's --ip; the container is reached through the port podman publishes there)
        body = wait_for(lambda: _fetch(f"http://127.0.0.1:{port}/name"), timeout=60, what="the mapped port to answer")
        assert body.strip() == "bridged-web", body
        driver.killTask({"value": "web"})
        assert sched.wait_terminal("web", timeout=60)["state"] == "TASK_KILLED"

        wrong = dict(container, docker=dict(container["docker"], port_mappings=[{"host_port": 1, "container_port": 80}]))
        sched.submit(0.1, 32, lambda o: command_task("unmapped", o, "true", container=wrong), driver)
        failed = sched.wait_terminal("unmapped", timeout=60)
    assert failed["state"] == "TASK_FAILED" and "Port [1] not included in resources" in failed["message"], failed


def _fetch(url):
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=5) as answer:
            return answer.read().decode()
    except OSError:
        return None


# Opening a device node the devices cgroup denies fails with EPERM; one it allows, with no
# driver behind it (no GPU here), with ENXIO.
PROBE_DEVICES = ("mknod g0 c 195 0; mknod g1 c 195 1; mknod kmsg c 1 11; "
                 "for d in g0 g1 kmsg /dev/null; do if (exec 3<$d) 2>err; then echo $d open; "
                 "else echo $d $(grep -o -e 'not permitted' -e 'No such device' err); fi; done")


def gpu_task(task_id: str, offer: dict, command: str) -> dict:
    task = command_task(task_id, offer, command)
    task["resources"].append({"name": "gpus", "type": "SCALAR", "scalar": {"value": 1}})
    return task


def test_gpu_nvidia_whitelists_each_tasks_own_gpus_and_recovers_who_holds_which(cluster):
    """No GPU is here: the device numbers are NVIDIA's (195:N), the kernel's devices cgroup enforces them."""
    cluster.start_master()
    agent = cluster.add_agent("cpus:2;mem:1024;gpus:2", "--isolation", "cgroups/cpu,cgroups/mem,gpu/nvidia")
    sched = RecordingScheduler()
    with pymesos_framework(cluster.master.address, sched) as driver:
        sched.submit(0.1, 32, lambda o: gpu_task("holder", o, "sleep 300"), driver)
        sched.wait_state("holder", "TASK_RUNNING", timeout=60)
        agent.kill()  # SIGKILL: the task runs on, and the restarted agent learns its GPU from its cgroup
        agent.start()
        wait_for(lambda: any(a["port"] == agent.port and a["active"] for a in cluster.state()["slaves"]),
                 timeout=60, what="the agent to re-register")
        sched.submit(0.1, 32, lambda o: gpu_task("probe", o, PROBE_DEVICES), driver)
        update = sched.wait_terminal("probe", timeout=60)
        assert update["state"] == "TASK_FINISHED", update
        where, directory = sandbox_of(cluster, "probe")
        out = read_sandbox_file(where, directory + "/stdout").split("\n")
        driver.killTask({"value": "holder"})
        sched.wait_terminal("holder", timeout=60)
    # The holder has GPU 0 (the first free); the probe, started after the restart, gets GPU 1 only;
    # a device off Mesos's default whitelist (/dev/kmsg) is denied, /dev/null allowed.
    assert out[:4] == ["g0 not permitted", "g1 No such device", "kmsg not permitted", "/dev/null open"], out


def test_gpu_nvidia_is_refused_where_it_cannot_isolate(cluster):
    cluster.start_master()
    agent = cluster.add_agent("cpus:1;mem:256;gpus:1", "--isolation", "gpu/nvidia", "--nvidia_gpu_devices", "0,1", wait=False)
    wait_for(lambda: not agent.alive(), timeout=30, what="the agent to refuse to start")
    assert "--nvidia_gpu_devices names 2 GPU(s), but the agent's resources offer gpus:1" in agent.log.read_text()
