"""Spark properties of a submission → the resources and placement the dispatcher uses.

Every property the dispatcher reads is validated here, and a bad value fails the
submission with a message naming the property, e.g.
`spark.executor.memory: '12x' is not a memory size (e.g. 512m, 2g)`.

Properties read (Spark's names, and the `spark.mesos.*` ones the Mesos
dispatcher honoured):

    spark.app.name                       name shown in the queue
    spark.corral.mode / spark.mesos.coarse   coarse (default) or fine-grained
    spark.corral.role / spark.mesos.role     Corral role whose resources the app uses
    spark.cores.max                      cap on the app's executor cores (default: no cap)
    spark.executor.cores                 cores per executor (coarse; fine is always 1)
    spark.executor.memory                executor heap (default 1g)
    spark.executor.memoryOverhead / spark.mesos.executor.memoryOverhead
                                         off-heap allowance (default max(384m, 10%))
    spark.driver.cores, spark.driver.memory, spark.driver.memoryOverhead
    spark.driver.supervise               retry the driver with backoff when it fails
    spark.mesos.constraints              attribute constraints for workers (executors)
    spark.mesos.driver.constraints       attribute constraints for the driver and Spark master
    spark.dynamicAllocation.initialExecutors / minExecutors  (fine: workers at start)
    spark.corral.worker.idleTimeout      fine: seconds an executor-less worker is kept
    spark.mesos.executor.home            Spark's directory on the agents or in the image (workers)
    spark.mesos.executor.docker.*, spark.mesos.containerizer   the image of the workers (see images.py)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Mapping

from corral.resources import validate_role
from corral.spark.constraints import ConstraintError, Constraints, parse_constraints
from corral.spark.images import ExecutorImage, ImageSpecError, executor_image

COARSE = "coarse"
FINE = "fine"
MODES = (COARSE, FINE)

DEFAULT_EXECUTOR_MEMORY_MB = 1024
DEFAULT_DRIVER_MEMORY_MB = 1024
MIN_OVERHEAD_MB = 384
OVERHEAD_FACTOR = 0.10

# Properties that describe the submitting client, not the driver launched on the cluster.
CLIENT_ONLY_PROPERTIES = frozenset(
    {
        "spark.master",
        "spark.submit.deployMode",
        "spark.driver.host",
        "spark.driver.bindAddress",
        "spark.driver.port",
        "spark.blockManager.port",
        "spark.ui.port",
        "spark.master.rest.enabled",
        "spark.master.rest.port",
    }
)


# The Python of PySpark's workers in an executor image, unless spark.pyspark.python names another.
IMAGE_PYTHON = "python3"


class SparkConfError(ValueError):
    pass


_MEMORY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(b|k|kb|m|mb|g|gb|t|tb|p|pb)?\s*$", re.IGNORECASE)
_MEMORY_MB = {"b": 1 / (1024 * 1024), "k": 1 / 1024, "kb": 1 / 1024, "m": 1, "mb": 1, "g": 1024, "gb": 1024,
              "t": 1024**2, "tb": 1024**2, "p": 1024**3, "pb": 1024**3}
_TIME = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(us|ms|s|sec|secs|m|min|mins|h|d)?\s*$", re.IGNORECASE)
_TIME_S = {"us": 1e-6, "ms": 1e-3, "s": 1, "sec": 1, "secs": 1, "m": 60, "min": 60, "mins": 60, "h": 3600, "d": 86400}


def memory_mb(value: str, key: str) -> int:
    """Spark's memory strings: `512m`, `2g`, `1.5g`; a bare number is MiB (as for spark.*.memory)."""
    m = _MEMORY.match(str(value))
    if not m:
        raise SparkConfError(f"{key}: '{value}' is not a memory size (e.g. 512m, 2g)")
    mb = float(m.group(1)) * _MEMORY_MB[(m.group(2) or "m").lower()]
    if mb < 1:
        raise SparkConfError(f"{key}: '{value}' is less than 1 MiB")
    return int(math.ceil(mb))


def seconds(value: str, key: str) -> float:
    """Spark's time strings: `60s`, `500ms`, `2min`; a bare number is seconds."""
    m = _TIME.match(str(value))
    if not m:
        raise SparkConfError(f"{key}: '{value}' is not a duration (e.g. 30s, 500ms, 2min)")
    return float(m.group(1)) * _TIME_S[(m.group(2) or "s").lower()]


def boolean(value: str, key: str) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise SparkConfError(f"{key}: '{value}' is not a boolean (true or false)")


def positive_int(value: str, key: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise SparkConfError(f"{key}: '{value}' is not a whole number") from None
    if number < 1:
        raise SparkConfError(f"{key}: must be at least 1 (got {number})")
    return number


def non_negative_int(value: str, key: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise SparkConfError(f"{key}: '{value}' is not a whole number") from None
    if number < 0:
        raise SparkConfError(f"{key}: must be 0 or more (got {number})")
    return number


def positive_number(value: str, key: str) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise SparkConfError(f"{key}: '{value}' is not a number") from None
    if not math.isfinite(number) or number <= 0:
        raise SparkConfError(f"{key}: must be a number > 0 (got {value})")
    return number


def overhead_mb(memory: int) -> int:
    return max(MIN_OVERHEAD_MB, int(memory * OVERHEAD_FACTOR))


@dataclass(frozen=True)
class AppSpec:
    """What one application needs from the cluster, derived from its Spark properties."""

    name: str
    mode: str = COARSE
    role: str = "*"
    driver_cpus: float = 1.0
    driver_memory_mb: int = DEFAULT_DRIVER_MEMORY_MB
    driver_overhead_mb: int = MIN_OVERHEAD_MB
    executor_memory_mb: int = DEFAULT_EXECUTOR_MEMORY_MB
    executor_overhead_mb: int = MIN_OVERHEAD_MB
    executor_cores: int | None = None
    cores_max: int | None = None
    constraints: Constraints = field(default_factory=dict)
    driver_constraints: Constraints = field(default_factory=dict)
    supervise: bool = False
    initial_workers: int = 0
    worker_idle_timeout: float = 2.0
    executor_image: ExecutorImage | None = None  # what the workers (and so the executors) run from
    executor_home: str | None = None  # SPARK_HOME of the workers (None: the launcher finds pyspark's)

    @property
    def driver_task_mem(self) -> int:
        return self.driver_memory_mb + self.driver_overhead_mb

    @property
    def executor_task_mem(self) -> int:
        return self.executor_memory_mb + self.executor_overhead_mb

    @property
    def min_worker_cores(self) -> int:
        if self.mode == FINE:
            return 1
        return self.executor_cores or 1


def app_spec(
    properties: Mapping[str, str],
    *,
    default_mode: str = COARSE,
    default_role: str = "*",
    default_worker_idle_timeout: float = 2.0,
) -> AppSpec:
    """Validate the properties the dispatcher relies on and derive the app's needs."""
    p = properties

    def get(*keys: str) -> tuple[str, str] | None:
        for key in keys:
            if key in p and p[key] is not None and str(p[key]).strip() != "":
                return key, str(p[key])
        return None

    name = p.get("spark.app.name") or ""
    if not name.strip():
        raise SparkConfError("spark.app.name: required (the application's name)")

    mode = default_mode
    if (kv := get("spark.corral.mode")) is not None:
        mode = kv[1].strip().lower()
        if mode not in MODES:
            raise SparkConfError(f"spark.corral.mode: '{kv[1]}' is not one of {', '.join(MODES)}")
    elif (kv := get("spark.mesos.coarse")) is not None:
        mode = COARSE if boolean(kv[1], kv[0]) else FINE

    role = default_role
    if (kv := get("spark.corral.role", "spark.mesos.role")) is not None:
        role = kv[1].strip()
        err = validate_role(role)
        if err:
            raise SparkConfError(f"{kv[0]}: {err}")

    executor_memory = DEFAULT_EXECUTOR_MEMORY_MB
    if (kv := get("spark.executor.memory")) is not None:
        executor_memory = memory_mb(*reversed(kv))
    executor_overhead = overhead_mb(executor_memory)
    if (kv := get("spark.executor.memoryOverhead", "spark.mesos.executor.memoryOverhead")) is not None:
        executor_overhead = memory_mb(*reversed(kv))

    driver_memory = DEFAULT_DRIVER_MEMORY_MB
    if (kv := get("spark.driver.memory")) is not None:
        driver_memory = memory_mb(*reversed(kv))
    driver_overhead = overhead_mb(driver_memory)
    if (kv := get("spark.driver.memoryOverhead", "spark.mesos.driver.memoryOverhead")) is not None:
        driver_overhead = memory_mb(*reversed(kv))

    driver_cpus = 1.0
    if (kv := get("spark.driver.cores")) is not None:
        driver_cpus = positive_number(*reversed(kv))

    executor_cores = None
    if (kv := get("spark.executor.cores")) is not None:
        executor_cores = positive_int(*reversed(kv))
    cores_max = None
    if (kv := get("spark.cores.max")) is not None:
        cores_max = positive_int(*reversed(kv))
    if mode == FINE:
        if executor_cores not in (None, 1):
            raise SparkConfError(f"spark.executor.cores: fine-grained mode runs one-core executors (got {executor_cores})")
        executor_cores = 1
    if executor_cores is not None and cores_max is not None and executor_cores > cores_max:
        raise SparkConfError(f"spark.executor.cores: {executor_cores} is more than spark.cores.max ({cores_max})")

    supervise = False
    if (kv := get("spark.driver.supervise")) is not None:
        supervise = boolean(*reversed(kv))

    try:
        constraints = parse_constraints(p.get("spark.mesos.constraints") or "", "spark.mesos.constraints")
        driver_constraints = parse_constraints(p.get("spark.mesos.driver.constraints") or "", "spark.mesos.driver.constraints")
    except ConstraintError as exc:
        raise SparkConfError(str(exc)) from None

    initial = 0
    for key in ("spark.dynamicAllocation.minExecutors", "spark.dynamicAllocation.initialExecutors"):
        if (kv := get(key)) is not None:
            initial = max(initial, non_negative_int(*reversed(kv)))
    if (kv := get("spark.dynamicAllocation.maxExecutors")) is not None:
        max_executors = non_negative_int(*reversed(kv))
        if mode == FINE:
            cores_max = max_executors if cores_max is None else min(cores_max, max_executors)
    if cores_max is not None:
        initial = min(initial, cores_max)
    for key in ("spark.dynamicAllocation.executorIdleTimeout", "spark.dynamicAllocation.shuffleTracking.timeout"):
        if (kv := get(key)) is not None:
            seconds(*reversed(kv))

    try:
        image = executor_image(p)
    except ImageSpecError as exc:
        raise SparkConfError(str(exc)) from None
    home = None
    if (kv := get("spark.mesos.executor.home")) is not None:
        home = kv[1].strip()
        if not home.startswith("/"):
            raise SparkConfError(f"spark.mesos.executor.home: '{home}' is not an absolute path")

    idle = default_worker_idle_timeout
    if (kv := get("spark.corral.worker.idleTimeout")) is not None:
        idle = seconds(*reversed(kv))

    return AppSpec(
        name=name.strip(), mode=mode, role=role, driver_cpus=driver_cpus, driver_memory_mb=driver_memory,
        driver_overhead_mb=driver_overhead, executor_memory_mb=executor_memory, executor_overhead_mb=executor_overhead,
        executor_cores=executor_cores, cores_max=cores_max, constraints=constraints,
        driver_constraints=driver_constraints, supervise=supervise, initial_workers=initial if mode == FINE else 0,
        worker_idle_timeout=idle, executor_image=image, executor_home=home,
    )


def driver_properties(properties: Mapping[str, str], spec: AppSpec, fine_idle_timeout: float,
                      primary_resource: str | None = None) -> dict[str, str]:
    """The `--conf`s the driver runs with: the submission's, minus client-side ones, plus the mode's."""
    out = {k: str(v) for k, v in properties.items() if k not in CLIENT_ONLY_PROPERTIES and str(v) != ""}
    if primary_resource and "spark.jars" in out:
        # spark-submit lists the application jar in spark.jars too; passing both loads its classes twice.
        primary = {primary_resource, primary_resource.removeprefix("file:"), "file:" + primary_resource.removeprefix("file:")}
        jars = [j for j in out["spark.jars"].split(",") if j and j not in primary]
        if jars:
            out["spark.jars"] = ",".join(jars)
        else:
            del out["spark.jars"]
    out["spark.executor.memory"] = f"{spec.executor_memory_mb}m"
    if spec.executor_image is not None and "spark.pyspark.python" not in out and "spark.executorEnv.PYSPARK_PYTHON" not in out:
        out["spark.pyspark.python"] = IMAGE_PYTHON  # the driver's Python is not in the image
    if spec.mode == FINE:
        out["spark.executor.cores"] = "1"
        out["spark.dynamicAllocation.enabled"] = "true"
        out["spark.ui.enabled"] = "true"  # the dispatcher reads the driver's allocation metrics there
        out.setdefault("spark.dynamicAllocation.shuffleTracking.enabled", "true")
        out.setdefault("spark.dynamicAllocation.executorIdleTimeout", f"{fine_idle_timeout:g}s")
        out.setdefault("spark.dynamicAllocation.shuffleTracking.timeout", f"{fine_idle_timeout:g}s")
        out.setdefault("spark.dynamicAllocation.minExecutors", "0")
        if spec.cores_max is not None:
            out["spark.dynamicAllocation.maxExecutors"] = str(spec.cores_max)
    elif spec.executor_cores is not None:
        out["spark.executor.cores"] = str(spec.executor_cores)
    return out
