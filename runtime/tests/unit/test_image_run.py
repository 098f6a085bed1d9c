"""executor/image_run.py: a task's ContainerInfo networks as `<tool> run` options, refused with
the errors of Mesos's Docker containerizer."""

import pytest

from corral.executor import image_run
from corral.resources import Resources

PORTS = Resources.parse("cpus:0.1;mem:32;ports:[31000-31009]").to_json()


def argv(docker, **container):
    task = {"container": {"type": "DOCKER", "docker": {"image": "img", **docker}, **container}, "resources": PORTS,
            "command": {"value": "true"}}
    return image_run.run_argv(task, "podman", "n", "c", "/s", {}, bridge="corral-bridge", host_ip="10.0.0.5")


def option(args, name):
    return [args[i + 1] for i, a in enumerate(args) if a == name]


def test_host_is_the_default_and_bridge_is_the_agents_bridge_network_with_ports_on_the_agents_ip():
    assert option(argv({}), "--network") == ["host"]
    bridged = argv({"network": "BRIDGE", "port_mappings": [{"host_port": 31003, "container_port": 80},
                                                           {"host_port": 31004, "container_port": 53, "protocol": "UDP"}]},
                   hostname="web")
    assert option(bridged, "--network") == ["corral-bridge"] and option(bridged, "--hostname") == ["web"]
    assert option(bridged, "-p") == ["10.0.0.5:31003:80/tcp", "10.0.0.5:31004:53/udp"]


def test_a_user_network_is_the_one_its_network_info_names():
    assert option(argv({"network": "USER"}, network_infos=[{"name": "tenant-a"}]), "--network") == ["tenant-a"]


@pytest.mark.parametrize("docker, container, error", [
    ({"network": "USER"}, {}, "container.network_infos: No network info found in container info"),
    ({"network": "USER"}, {"network_infos": [{"name": "a"}, {"name": "b"}]}, "Only a single network can be defined in Docker run"),
    ({"network": "USER"}, {"network_infos": [{}]}, "container.network_infos[0].name: No network name found in network info"),
    ({"network": "HOST", "port_mappings": [{"host_port": 31000, "container_port": 80}]}, {},
     "Port mappings are only supported for bridge and user-defined networks"),
    ({"network": "BRIDGE", "port_mappings": [{"host_port": 8080, "container_port": 80}]}, {},
     "container.docker.port_mappings[0]: Port [8080] not included in resources"),
    ({"network": "BRIDGE", "port_mappings": [{"host_port": 31000, "container_port": 80, "protocol": "sctp"}]}, {},
     "container.docker.port_mappings[0].protocol sctp: tcp or udp"),
    ({"network": "BRIDGE", "port_mappings": [{"host_port": 31000}]}, {}, "host_port and container_port are required"),
    ({"network": "HOST"}, {"hostname": "web"}, "Unable to set hostname with host network mode"),
    ({"network": "OVERLAY"}, {}, "container.docker.network: Unsupported Network mode: OVERLAY"),
])
def test_what_cannot_be_honoured_is_named(docker, container, error):
    with pytest.raises(ValueError) as exc:
        argv(docker, **container)
    assert error in str(exc.value)


def test_the_oom_watch_reads_a_containers_v1_memory_cgroup_and_its_kill_counter():
    from corral.executor.oom_watch import oom_kills, v1_memory_cgroup

    proc = "12:pids:/libpod_parent/libpod-ab\n5:memory:/libpod_parent/libpod-ab\n1:name=systemd:/x\n0::/\n"
    assert v1_memory_cgroup(proc) == "/libpod_parent/libpod-ab" and v1_memory_cgroup("0::/machine.slice/x\n") is None
    assert oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n") == 2 and oom_kills("") == 0


def test_the_oom_watch_finds_a_v2_cgroup_and_waits_for_its_oom_kill_or_its_removal(tmp_path):
    import shutil
    import threading

    from corral.executor.oom_watch import cgroup_of, watch_v2

    root = tmp_path / "cgroup"
    directory = root / "machine.slice" / "libpod-ab.scope"
    directory.mkdir(parents=True)
    (directory / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\noom_group_kill 0\n")
    proc = "0::/machine.slice/libpod-ab.scope\n"
    assert cgroup_of(proc, str(root)) is None  # not a unified hierarchy
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    assert cgroup_of(proc, str(root)) == (2, str(directory))
    assert cgroup_of("5:memory:/libpod-ab\n0::/\n", str(root)) == (1, str(root / "memory" / "libpod-ab"))

    result: list = []
    watcher = threading.Thread(target=lambda: result.append(watch_v2(str(directory))))
    watcher.start()
    (directory / "memory.max").write_text("67108864\n")
    (directory / "memory.peak").write_text("67100000\n")
    (directory / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\noom_group_kill 0\n")
    watcher.join(10)
    assert result == [(67108864, 67100000)]

    (directory / "memory.events").write_text("oom_kill 0\n")
    watcher = threading.Thread(target=lambda: result.append(watch_v2(str(directory))))
    watcher.start()
    shutil.rmtree(directory)  # the container exited without an OOM kill
    watcher.join(10)
    assert result[1:] == [None]
