"""Spark in a container image: spark.mesos.executor.docker.image runs the workers, and so the
executors, from the image the images recipe builds (images/build-spark.sh), on an agent with
--containerizers mesos,docker; a missing image fails the application naming it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from support.cluster import Cluster
from support.sparkkit import AGENT_RESOURCES, Dispatcher, python_request, require_pyspark

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
REPO = Path(__file__).resolve().parents[3]
IMAGE_KEY = "spark__mesos__executor__docker__image"

WHERE_APP = """
import os, sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
def where(_):
    marker = open("/etc/corral-spark-image").read().strip() if os.path.exists("/etc/corral-spark-image") else "host"
    return (marker, os.environ.get("MESOS_SANDBOX", ""), sys.executable)
print("EXECUTORS", sorted(set(spark.sparkContext.parallelize(range(4), 4).map(where).collect())), flush=True)
print("DRIVER IN IMAGE", os.path.exists("/etc/corral-spark-image"), flush=True)
spark.stop()
"""


@pytest.fixture(scope="module")
def spark_image() -> tuple[str, str]:
    """(image, its recipe hash), built or found cached by the images recipe."""
    proc = subprocess.run([str(REPO / "images/build-spark.sh")], capture_output=True, text=True, timeout=3600, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    image = "localhost/corral-spark:latest"
    recipe = subprocess.run(["podman", "image", "inspect", image, "--format", '{{index .Config.Labels "corral.recipe"}}'],
                            capture_output=True, text=True, check=True).stdout.strip()
    return image, recipe


@pytest.fixture(scope="module")
def image_cluster(tmp_path_factory):
    require_pyspark()
    cluster = Cluster(tmp_path_factory.mktemp("spark-image"))
    cluster.start_master()
    cluster.add_agent(AGENT_RESOURCES, "--containerizers", "mesos,docker")
    dispatcher = Dispatcher(cluster.root, cluster.master.address).start()
    yield cluster, dispatcher
    dispatcher.stop()
    cluster.stop()


def test_workers_and_executors_run_from_the_image_and_a_missing_image_is_named(image_cluster, spark_image):
    cluster, dispatcher = image_cluster
    image, recipe = spark_image
    app = cluster.root / "where.py"
    app.write_text(WHERE_APP.lstrip())
    sid = dispatcher.submit(python_request(app, spark__cores__max="1", **{IMAGE_KEY: image}))
    dispatcher.wait_state(sid, "FINISHED", timeout=400)
    out = dispatcher.logs(sid)
    # Executors see the image's files, the sandbox where Mesos mounts it, and the image's Python.
    assert f"EXECUTORS [('{recipe}', '/mnt/mesos/sandbox', '/usr/bin/python3')]" in out, out
    assert "DRIVER IN IMAGE False" in out, out  # the driver runs on the agent's host, by its resource
    worker = next(t for t in dispatcher.get(sid)["tasks"] if "worker" in t["task_id"])
    assert "launcher: starting" in dispatcher.logs(sid, worker["task_id"], "stderr")  # read at the agent's path
    tasks = {t["id"]: t for fw in cluster.state()["completed_frameworks"] + cluster.state()["frameworks"]
             for t in fw.get("completed_tasks", []) + fw.get("tasks", [])}
    assert tasks[worker["task_id"]]["container"]["docker"]["image"] == image

    missing = dispatcher.submit(python_request(app, spark__cores__max="1", **{IMAGE_KEY: "localhost/no-such-spark:1"}))
    status = dispatcher.wait_state(missing, "FAILED", timeout=240)
    assert "a Spark worker could not be started (TASK_FAILED" in status["reason"], status
    assert "image 'localhost/no-such-spark:1' is not in the agent's local image storage" in status["reason"], status
