"""The container image Spark's workers and executors run from: the `spark.mesos.*` image properties.

As Spark's Mesos backend (MesosSchedulerBackendUtil) read them:

    spark.mesos.executor.docker.image           the image (none: the agent's host filesystem)
    spark.mesos.containerizer                   docker (default: ContainerInfo type DOCKER) or mesos
                                                (type MESOS with a DOCKER image)
    spark.mesos.executor.docker.forcePullImage  force_pull_image (docker) / image.cached = false (mesos)
    spark.mesos.executor.docker.volumes         [host_path:]container_path[:rw|:ro], comma separated
    spark.mesos.executor.docker.parameters      key=value docker run options, comma separated (docker only)

Spark logged and skipped a volume or parameter it could not parse; here the submission fails
naming it, since a worker started without the volume it asked for would fail later and less
clearly.  Pure: properties in, an `ExecutorImage` (and its ContainerInfo JSON) out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

IMAGE = "spark.mesos.executor.docker.image"
CONTAINERIZER = "spark.mesos.containerizer"
FORCE_PULL = "spark.mesos.executor.docker.forcePullImage"
VOLUMES = "spark.mesos.executor.docker.volumes"
PARAMETERS = "spark.mesos.executor.docker.parameters"
CONTAINERIZERS = ("docker", "mesos")


@dataclass(frozen=True)
class Volume:
    host_path: str
    container_path: str
    mode: str = "RW"


@dataclass(frozen=True)
class ExecutorImage:
    image: str
    containerizer: str = "docker"
    force_pull: bool = False
    volumes: tuple[Volume, ...] = ()
    parameters: tuple[tuple[str, str], ...] = ()

    def container_info(self) -> dict[str, Any]:
        """The ContainerInfo of a worker task (host network: the worker binds the agent's address)."""
        info: dict[str, Any]
        if self.containerizer == "docker":
            docker: dict[str, Any] = {"image": self.image, "network": "HOST", "force_pull_image": self.force_pull}
            if self.parameters:
                docker["parameters"] = [{"key": k, "value": v} for k, v in self.parameters]
            info = {"type": "DOCKER", "docker": docker}
        else:
            info = {"type": "MESOS",
                    "mesos": {"image": {"type": "DOCKER", "docker": {"name": self.image}, "cached": not self.force_pull}}}
        if self.volumes:
            info["volumes"] = [{"host_path": v.host_path, "container_path": v.container_path, "mode": v.mode}
                               for v in self.volumes]
        return info


class ImageSpecError(ValueError):
    pass


def executor_image(properties: Mapping[str, str]) -> ExecutorImage | None:
    """The image the properties ask for, or None (ImageSpecError names a bad property)."""

    def get(key: str) -> str | None:
        value = properties.get(key)
        return str(value).strip() if value is not None and str(value).strip() else None

    image = get(IMAGE)
    if image is None:
        for key in (CONTAINERIZER, FORCE_PULL, VOLUMES, PARAMETERS):
            if get(key) is not None:
                raise ImageSpecError(f"{key}: only applies with {IMAGE} (no image is given)")
        return None
    if any(c.isspace() for c in image):
        raise ImageSpecError(f"{IMAGE}: '{image}' is not an image name")
    containerizer = (get(CONTAINERIZER) or "docker").lower()
    if containerizer not in CONTAINERIZERS:
        raise ImageSpecError(f"{CONTAINERIZER}: must be one of docker, mesos (got '{get(CONTAINERIZER)}')")
    force_pull = (get(FORCE_PULL) or "false").lower()
    if force_pull not in ("true", "false"):
        raise ImageSpecError(f"{FORCE_PULL}: '{get(FORCE_PULL)}' is not a boolean (true or false)")
    volumes = tuple(_volume(spec) for spec in (get(VOLUMES) or "").split(",") if spec.strip())
    parameters = tuple(_parameter(spec) for spec in (get(PARAMETERS) or "").split(",") if spec.strip())
    if parameters and containerizer != "docker":
        raise ImageSpecError(f"{PARAMETERS}: docker run options need {CONTAINERIZER}=docker (it is mesos)")
    return ExecutorImage(image, containerizer, force_pull == "true", volumes, parameters)


def _volume(spec: str) -> Volume:
    parts = spec.strip().split(":")
    mode = "RW"
    if len(parts) > 1 and parts[-1] in ("rw", "ro"):
        mode = parts.pop().upper()
    if len(parts) == 1:
        raise ImageSpecError(f"{VOLUMES}: '{spec.strip()}' names no host directory (Corral's agents mount host "
                             "directories only; expected host-dir:container-dir[:rw|:ro])")
    if len(parts) != 2 or not all(parts):
        raise ImageSpecError(f"{VOLUMES}: cannot parse '{spec.strip()}' (expected [host-dir:]container-dir[:rw|:ro])")
    host, container = parts
    for what, path in (("host", host), ("container", container)):
        if not path.startswith("/"):
            raise ImageSpecError(f"{VOLUMES}: '{spec.strip()}': the {what} directory must be an absolute path")
    return Volume(host, container, mode)


def _parameter(spec: str) -> tuple[str, str]:
    key, sep, value = spec.strip().partition("=")
    if not sep or not key.strip():
        raise ImageSpecError(f"{PARAMETERS}: cannot parse '{spec.strip()}' (expected key=value)")
    return key.strip(), value
