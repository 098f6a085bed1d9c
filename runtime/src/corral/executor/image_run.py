"""A command task in a container image, run with a docker-compatible CLI (podman by default).

As Mesos's Docker containerizer drives `docker run`, the command executor runs the task as
`<tool> run` of the image named by its ContainerInfo (type DOCKER, or MESOS with a DOCKER
image): the sandbox mounted at /mnt/mesos/sandbox (MESOS_SANDBOX inside; MESOS_DIRECTORY is its path on
the agent, as Mesos exports it), the task's cpus
and mem as the container's limits, the network HOST, NONE, BRIDGE (the agent's
--docker_bridge_network, with the DockerInfo's port_mappings published on the agent's IP
from the task's own `ports`) or USER (the network its NetworkInfo names), the
ContainerInfo's volumes and docker parameters, and images only from local storage (`--pull=never`: registries are
not reached).  Kills go to the container (`<tool> stop -t GRACE`), since signals to the
CLI's process would leave it running.  Pure: task JSON in, argv out; a ValueError names a
field that cannot be honoured.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

CONTAINER_SANDBOX = "/mnt/mesos/sandbox"
NETWORKS = ("HOST", "NONE", "BRIDGE", "USER")
PROTOCOLS = ("tcp", "udp")


def image_name(container: dict[str, Any] | None) -> str | None:
    """The docker image a ContainerInfo asks for, or None (no image: the host's filesystem)."""
    if not isinstance(container, dict):
        return None
    if container.get("type") == "DOCKER":
        image = (container.get("docker") or {}).get("image")
        return image if isinstance(image, str) and image else ""
    image = (container.get("mesos") or {}).get("image") if isinstance(container.get("mesos"), dict) else None
    if isinstance(image, dict):
        if image.get("type", "DOCKER") != "DOCKER":
            raise ValueError(f"container.mesos.image.type {image.get('type')}: only DOCKER images are supported")
        name = (image.get("docker") or {}).get("name") if isinstance(image.get("docker"), dict) else None
        return name if isinstance(name, str) and name else ""
    return None


def container_name(task_id: str, container_id: str) -> str:
    return "mesos-" + re.sub(r"[^A-Za-z0-9_.-]", "_", f"{task_id}.{container_id}")[:200]


LABEL = "corral.container"  # the agent's container id: the agent removes what is left by it


def persistent_volume_paths(task: dict[str, Any]) -> list[str]:
    """The container_path (inside the sandbox) of each persistent volume the task's resources hold."""
    out = []
    for r in task.get("resources") or []:
        volume = ((r.get("disk") or {}).get("volume") or {}) if isinstance(r, dict) else {}
        if isinstance(volume, dict) and isinstance(volume.get("container_path"), str):
            out.append(volume["container_path"])
    return out


def run_argv(task: dict[str, Any], tool: str, name: str, container_id: str, sandbox: str, env: dict[str, str],
             persistent: Sequence[tuple[str, str]] = (), bridge: str = "podman", host_ip: str = "127.0.0.1") -> list[str]:
    """`<tool> run ...` for the task (its ContainerInfo names an image).  `persistent`: (directory on the
    agent, container_path) of each persistent volume, mounted at that path inside the sandbox;
    `bridge`: the tool's network for BRIDGE; `host_ip`: the agent's address, where ports are published."""
    container = task.get("container") or {}
    image = image_name(container)
    if not image:
        raise ValueError("container: the image has no name")
    docker = (container.get("docker") or {}) if container.get("type") == "DOCKER" else {}
    argv = [tool, "run", "--rm", "--pull=never", "--name", name, "--label", f"{LABEL}={container_id}",
            *_network_options(task, docker, bridge, host_ip), "-v", f"{sandbox}:{CONTAINER_SANDBOX}", "-w", CONTAINER_SANDBOX]
    resources = _scalars(task.get("resources") or [])
    if resources.get("cpus"):
        argv += ["--cpus", f"{resources['cpus']:g}"]
    if resources.get("mem"):
        argv += ["--memory", f"{int(resources['mem'])}m", "--memory-swap", f"{int(resources['mem'])}m"]
    for directory, path in persistent:
        argv += ["-v", f"{directory}:{CONTAINER_SANDBOX}/{path}:rw"]
    for i, volume in enumerate(container.get("volumes") or []):
        argv += ["-v", _volume(volume, f"container.volumes[{i}]")]
    for i, parameter in enumerate(docker.get("parameters") or []):
        key, value = (parameter.get("key"), parameter.get("value", "")) if isinstance(parameter, dict) else (None, None)
        if not isinstance(key, str) or not re.fullmatch(r"[a-z][a-z0-9-]*", key):
            raise ValueError(f"container.docker.parameters[{i}].key: expected a docker run option name, e.g. 'label'")
        argv.append(f"--{key}={value}")
    for key, value in sorted({**env, "MESOS_SANDBOX": CONTAINER_SANDBOX, "MESOS_DIRECTORY": sandbox}.items()):
        argv += ["-e", f"{key}={value}"]
    argv.append(image)
    command = task.get("command") or {}
    if command.get("shell", True):
        if command.get("value"):
            argv += ["/bin/sh", "-c", command["value"]]
    else:
        arguments = list(command.get("arguments") or [])
        program = command.get("value") or (arguments[0] if arguments else None)
        if program:  # without one, the image's own command runs
            argv += [program] + arguments[1:]
    return argv


def _network_options(task: dict[str, Any], docker: dict[str, Any], bridge: str, host_ip: str) -> list[str]:
    """--network, --hostname and -p options, refused with the errors of Mesos's Docker containerizer."""
    container = task.get("container") or {}
    network = docker.get("network", "HOST")
    if network not in NETWORKS:
        raise ValueError(f"container.docker.network: Unsupported Network mode: {network}")
    if network == "USER":
        infos = container.get("network_infos") or []
        if not infos:
            raise ValueError("container.network_infos: No network info found in container info")
        if len(infos) > 1:
            raise ValueError("container.network_infos: Only a single network can be defined in Docker run")
        name = infos[0].get("name") if isinstance(infos[0], dict) else None
        if not isinstance(name, str) or not name:
            raise ValueError("container.network_infos[0].name: No network name found in network info")
        options = ["--network", name]
    else:
        options = ["--network", {"HOST": "host", "NONE": "none", "BRIDGE": bridge}[network]]
    if container.get("hostname"):
        if network == "HOST":
            raise ValueError("container.hostname: Unable to set hostname with host network mode")
        options += ["--hostname", str(container["hostname"])]
    mappings = docker.get("port_mappings") or []
    if mappings and network in ("HOST", "NONE"):
        raise ValueError("container.docker.port_mappings: Port mappings are only supported for bridge and user-defined networks")
    offered = _ranges(task.get("resources") or [], "ports")
    for i, mapping in enumerate(mappings):
        where = f"container.docker.port_mappings[{i}]"
        host, inside = (mapping.get("host_port"), mapping.get("container_port")) if isinstance(mapping, dict) else (None, None)
        if not isinstance(host, int) or not isinstance(inside, int):
            raise ValueError(f"{where}: host_port and container_port are required port numbers")
        if not any(begin <= host <= end for begin, end in offered):
            raise ValueError(f"{where}: Port [{host}] not included in resources")
        protocol = str(mapping.get("protocol", "tcp")).lower()
        if protocol not in PROTOCOLS:
            raise ValueError(f"{where}.protocol {mapping.get('protocol')}: tcp or udp")
        options += ["-p", f"{host_ip}:{host}:{inside}/{protocol}"]
    return options


def _ranges(resources: list[Any], name: str) -> list[tuple[int, int]]:
    return [(int(r["begin"]), int(r["end"])) for res in resources if isinstance(res, dict) and res.get("name") == name
            for r in (res.get("ranges") or {}).get("range", []) if isinstance(r, dict)]


def _volume(volume: Any, where: str) -> str:
    if not isinstance(volume, dict) or not isinstance(volume.get("container_path"), str) or not volume["container_path"]:
        raise ValueError(f"{where}.container_path: required")
    host = volume.get("host_path")
    if not isinstance(host, str) or not host.startswith("/"):
        raise ValueError(f"{where}.host_path: an absolute path on the agent is required (image volumes are not supported)")
    mode = {"RW": "rw", "RO": "ro"}.get(volume.get("mode", "RW"))
    if mode is None:
        raise ValueError(f"{where}.mode: RW or RO")
    return f"{host}:{volume['container_path']}:{mode}"


def _scalars(resources: list[Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in resources:
        if isinstance(r, dict) and r.get("type") == "SCALAR" and isinstance((r.get("scalar") or {}).get("value"), (int, float)):
            out[r["name"]] = out.get(r["name"], 0.0) + float(r["scalar"]["value"])
    return out
