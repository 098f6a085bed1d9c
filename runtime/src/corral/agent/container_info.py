"""What a task's or executor's `ContainerInfo` asks of the agent, and whether it can do it.

The `mesos` containerizer runs processes in cgroups on the host's filesystem; the `docker`
containerizer (--containerizers mesos,docker) runs a command task whose ContainerInfo names
an image (type DOCKER, or MESOS with a DOCKER image) through a docker-compatible CLI
(--docker, podman by default; executor/image_run.py). A container this agent cannot
create fails to launch, as in Mesos, with a message naming why; running it on the host
instead would be wrong.
"""

from __future__ import annotations

from typing import Any

CONTAINERIZERS = ("mesos", "docker")


def parse_containerizers(value: str) -> tuple[str, ...]:
    """--containerizers: Mesos's comma list of `mesos` and `docker` (images, run with --docker)."""
    names = tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    unknown = [n for n in names if n not in CONTAINERIZERS]
    if not names or unknown:
        raise ValueError(f"'{', '.join(unknown) or value}' is not a containerizer Corral has: {', '.join(CONTAINERIZERS)}")
    return names


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


def refusal(enabled: tuple[str, ...], executor: dict[str, Any] | None, *tasks: dict[str, Any] | None) -> str | None:
    """Why this agent cannot create the container these ContainerInfos describe (None: it can):
    `executor` is a custom executor's, `tasks` those of command tasks."""
    for container, custom in [(executor, True)] + [(t, False) for t in tasks]:
        if not container:
            continue
        kind = container.get("type", "MESOS")
        if kind not in ("MESOS", "DOCKER"):
            return f"ContainerInfo type {kind} is not supported (the agent runs MESOS and DOCKER containers)"
        image = image_of(container)
        if image is None:
            continue
        if "docker" not in enabled:
            return (f"None of the enabled containerizers ({','.join(enabled)}) could create a container "
                    f"for the provided TaskInfo/ExecutorInfo message: images need the docker containerizer "
                    f"(asked for {image})")
        if custom:
            return f"Custom executors do not run in container images on this agent (asked for {image}); give the task the image"
        if not image.startswith("docker:"):
            return f"Only docker images are supported (asked for {image})"
    return None
