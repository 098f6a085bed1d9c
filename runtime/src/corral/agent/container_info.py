"""What a task's or executor's `ContainerInfo` asks of the agent, and whether it can do it.

The agent has Mesos's `mesos` containerizer without images: processes in cgroups on the
host's filesystem. A ContainerInfo of type DOCKER, or of type MESOS with an image, asks for
a root filesystem this agent cannot give; running the task on the host instead would be
wrong, so it fails to launch as in Mesos, with a message naming the image.
"""

from __future__ import annotations

from typing import Any

CONTAINERIZERS = ("mesos",)


def image_of(container: dict[str, Any]) -> str | None:
    """The image a ContainerInfo names, as `docker:NAME` or `appc:NAME`, if any."""
    if container.get("type") == "DOCKER":
        return "docker:" + str((container.get("docker") or {}).get("image", "?"))
    image = container.get("mesos", {}).get("image") if isinstance(container.get("mesos"), dict) else None
    if isinstance(image, dict):
        kind = str(image.get("type", "DOCKER")).lower()
        name = (image.get(kind) or {}).get("name", "?") if isinstance(image.get(kind), dict) else "?"
        return f"{kind}:{name}"
    return None


def refusal(*containers: dict[str, Any] | None) -> str | None:
    """Why this agent cannot create the container these ContainerInfos describe (None: it can)."""
    for container in containers:
        if not container:
            continue
        kind = container.get("type", "MESOS")
        if kind not in ("MESOS", "DOCKER"):
            return f"ContainerInfo type {kind} is not supported (the agent runs MESOS containers)"
        image = image_of(container)
        if image is not None:
            return (f"None of the enabled containerizers ({','.join(CONTAINERIZERS)}) could create a container "
                    f"for the provided TaskInfo/ExecutorInfo message: this agent runs no container images "
                    f"(asked for {image})")
    return None
