"""TaskInfos for the three kinds of Spark task: master, worker and driver.

Each task runs `python -m corral.spark.launcher <kind> ...` (see launcher.py)
with the Python that has pyspark on the agents.  The launcher picks free
ports, starts the Spark daemon or spark-submit, and reports its addresses to
the dispatcher's internal endpoint, from which drivers and workers also learn
their application's Spark master URL.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

from corral.resources import Resources
from corral.spark.model import DRIVER, MASTER, WORKER, Submission, TaskRecord
from corral.spark.protocol import Application
from corral.spark.sparkconf import IMAGE_PYTHON, AppSpec

KILL_GRACE_SECONDS = 5.0


@dataclass
class LauncherConfig:
    dispatcher_url: str = "http://127.0.0.1:7077"  # as reachable from the agents
    python: str = field(default_factory=lambda: sys.executable)
    spark_home: str | None = None  # None: the launcher finds pyspark's
    daemon_memory: str = "256m"  # SPARK_DAEMON_MEMORY of the Spark master and workers
    # The daemons do little work: a quick-starting JIT and a small GC save seconds of start-up per task.
    daemon_java_opts: str = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    start_timeout: float = 180.0  # how long drivers and workers wait for their Spark master


def _command(cfg: LauncherConfig, kind: str, rec: TaskRecord, sub: Submission, extra: list[str],
             spark_home: str | None, env: dict[str, str] | None = None, python: str | None = None) -> dict[str, Any]:
    """`spark_home` None: the launcher finds pyspark's."""
    python = python or cfg.python
    args = [python, "-m", "corral.spark.launcher", kind, "--dispatcher", cfg.dispatcher_url,
            "--submission", sub.id, "--attempt", str(rec.attempt), "--task-id", rec.task_id, "--host", rec.host,
            "--timeout", f"{cfg.start_timeout:g}"]
    if spark_home:
        args += ["--spark-home", spark_home]
    command: dict[str, Any] = {"shell": False, "value": python, "arguments": args + extra}
    variables = {"SPARK_LOCAL_IP": rec.host, "SPARK_DAEMON_MEMORY": cfg.daemon_memory,
                 "SPARK_DAEMON_JAVA_OPTS": cfg.daemon_java_opts, **(env or {})}
    command["environment"] = {"variables": [{"name": k, "value": v} for k, v in sorted(variables.items())]}
    return command


def task_info(rec: TaskRecord, sub: Submission, resources: Resources, role: str, command: dict[str, Any],
              container: dict[str, Any] | None = None) -> dict[str, Any]:
    info = {
        "name": f"Spark {rec.kind} of {sub.name} ({sub.id})"[:200],
        "task_id": {"value": rec.task_id},
        "agent_id": {"value": rec.agent_id},
        "resources": resources.to_json(allocation_role=role),
        "command": command,
        "kill_policy": {"grace_period": {"nanoseconds": int(KILL_GRACE_SECONDS * 1e9)}},
        "labels": {"labels": [{"key": "spark.submission", "value": sub.id}, {"key": "spark.task", "value": rec.kind}]},
    }
    if container is not None:
        info["container"] = container
    return info


def master_command(cfg: LauncherConfig, rec: TaskRecord, sub: Submission) -> dict[str, Any]:
    assert rec.kind == MASTER
    return _command(cfg, MASTER, rec, sub, [], cfg.spark_home)


def worker_command(cfg: LauncherConfig, rec: TaskRecord, sub: Submission, spark_memory_mb: int,
                   spec: AppSpec) -> dict[str, Any]:
    """A worker on the agent's host, or in `spec.executor_image`: there the image's Python runs the
    launcher (the images recipe installs it) and Spark is the image's, or at spark.mesos.executor.home."""
    assert rec.kind == WORKER
    in_image = spec.executor_image is not None
    return _command(cfg, WORKER, rec, sub, ["--cores", str(rec.cores), "--memory", f"{spark_memory_mb}m"],
                    spec.executor_home or (None if in_image else cfg.spark_home),
                    python=IMAGE_PYTHON if in_image else None)


def driver_command(cfg: LauncherConfig, rec: TaskRecord, sub: Submission, app: Application, conf: dict[str, str],
                   driver_memory_mb: int) -> dict[str, Any]:
    assert rec.kind == DRIVER
    spec = {
        "kind": app.kind,
        "resource": app.resource,
        "main_class": app.main_class,
        "args": list(app.args),
        "py_files": list(app.py_files),
        "conf": conf,
        "driver_memory": f"{driver_memory_mb}m",
        "name": sub.name,
    }
    env = dict(sub.request.environment)
    return _command(cfg, DRIVER, rec, sub, ["--spec", json.dumps(spec, sort_keys=True)], cfg.spark_home, env)
