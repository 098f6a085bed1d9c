"""Fixtures of the Spark suite: one real cluster and one dispatcher per test module
(the machinery is in `support.sparkkit`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cluster import Cluster
from support.sparkkit import AGENT_ATTRIBUTES, AGENT_RESOURCES, Dispatcher, require_pyspark, write_apps


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory):
    """A master and two agents (4 cpus, 8 GB, rack r1 and r2 each) shared by a test module."""
    require_pyspark()
    root = tmp_path_factory.mktemp("spark-cluster")
    cluster = Cluster(root)
    cluster.start_master()
    for attributes in AGENT_ATTRIBUTES:
        cluster.add_agent(AGENT_RESOURCES, "--attributes", attributes)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def dispatcher(spark_cluster):
    d = Dispatcher(spark_cluster.root, spark_cluster.master.address).start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def apps(spark_cluster) -> Path:
    return write_apps(spark_cluster.root)


@pytest.fixture(autouse=True)
def logs_on_failure(request):
    """When a test fails, print the dispatcher's and the cluster's logs."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed == failed_before:
        return
    for name in ("dispatcher", "spark_cluster"):
        if name in request.fixturenames:
            value = request.getfixturevalue(name)
            print(f"===== dispatcher.log\n{value.tail_log()}" if isinstance(value, Dispatcher) else value.logs())
