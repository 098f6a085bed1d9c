"""Spark properties → AppSpec, with errors that name the property."""

from __future__ import annotations

import pytest

from corral.spark.sparkconf import COARSE, FINE, SparkConfError, app_spec, driver_properties, memory_mb


def spec(**props: str):
    return app_spec({"spark.app.name": "demo", **{k.replace("__", "."): v for k, v in props.items()}})


def test_defaults() -> None:
    s = spec()
    assert (s.mode, s.role, s.driver_cpus, s.driver_memory_mb, s.executor_memory_mb) == (COARSE, "*", 1.0, 1024, 1024)
    assert s.executor_overhead_mb == 384 and s.driver_task_mem == 1408 and s.cores_max is None


def test_sizes_modes_and_roles() -> None:
    s = app_spec({"spark.app.name": "a", "spark.executor.memory": "4g", "spark.cores.max": "6", "spark.executor.cores": "2",
                  "spark.mesos.role": "ads", "spark.mesos.constraints": "rack:r1", "spark.driver.supervise": "true"})
    assert s.executor_memory_mb == 4096 and s.executor_overhead_mb == 409 and s.cores_max == 6 and s.executor_cores == 2
    assert s.role == "ads" and s.constraints == {"rack": frozenset({"r1"})} and s.supervise
    assert app_spec({"spark.app.name": "a", "spark.mesos.coarse": "false"}).mode == FINE
    fine = app_spec({"spark.app.name": "a", "spark.corral.mode": "fine", "spark.dynamicAllocation.maxExecutors": "3"})
    assert fine.mode == FINE and fine.executor_cores == 1 and fine.cores_max == 3
    assert memory_mb("1.5g", "k") == 1536 and memory_mb("512", "k") == 512 and memory_mb("2048k", "k") == 2


@pytest.mark.parametrize("key, value, fragment", [
    ("spark.executor.memory", "12x", "not a memory size"),
    ("spark.driver.memory", "lots", "not a memory size"),
    ("spark.cores.max", "0", "at least 1"),
    ("spark.cores.max", "two", "not a whole number"),
    ("spark.driver.cores", "-1", "> 0"),
    ("spark.driver.supervise", "maybe", "not a boolean"),
    ("spark.corral.mode", "medium", "coarse, fine"),
    ("spark.mesos.role", "a b", "invalid component"),
    ("spark.mesos.constraints", "rack:r1,,r2", "empty value"),
    ("spark.dynamicAllocation.executorIdleTimeout", "soon", "not a duration"),
])
def test_bad_values_name_the_property(key: str, value: str, fragment: str) -> None:
    with pytest.raises(SparkConfError) as err:
        app_spec({"spark.app.name": "demo", key: value})
    assert key in str(err.value) and fragment in str(err.value)


def test_app_name_required_and_fine_executor_cores() -> None:
    with pytest.raises(SparkConfError, match="spark.app.name"):
        app_spec({})
    with pytest.raises(SparkConfError, match="one-core"):
        app_spec({"spark.app.name": "a", "spark.corral.mode": "fine", "spark.executor.cores": "2"})
    with pytest.raises(SparkConfError, match="more than spark.cores.max"):
        app_spec({"spark.app.name": "a", "spark.cores.max": "2", "spark.executor.cores": "4"})


def test_driver_properties() -> None:
    props = {"spark.app.name": "a", "spark.master": "spark://dispatcher:7077", "spark.submit.deployMode": "cluster",
             "spark.jars": "file:/x/app.jar,file:/x/lib.jar", "spark.corral.mode": "fine"}
    s = app_spec(props)
    conf = driver_properties(props, s, 10.0, "file:/x/app.jar")
    assert "spark.master" not in conf and "spark.submit.deployMode" not in conf
    assert conf["spark.jars"] == "file:/x/lib.jar"
    assert conf["spark.dynamicAllocation.enabled"] == "true"
    assert conf["spark.dynamicAllocation.shuffleTracking.enabled"] == "true"
    assert conf["spark.executor.cores"] == "1" and conf["spark.dynamicAllocation.executorIdleTimeout"] == "10s"


IMAGE = "spark.mesos.executor.docker.image"


def test_executor_image_as_sparks_mesos_backend_read_it() -> None:
    assert spec().executor_image is None
    docker = app_spec({"spark.app.name": "a", IMAGE: "localhost/corral-spark:latest",
                       "spark.mesos.executor.docker.forcePullImage": "true",
                       "spark.mesos.executor.docker.volumes": "/data:/data:ro, /scratch:/mnt/scratch",
                       "spark.mesos.executor.docker.parameters": "label=a=b,env=X=1",
                       "spark.mesos.executor.home": "/opt/spark"})
    assert docker.executor_home == "/opt/spark"
    assert docker.executor_image.container_info() == {
        "type": "DOCKER",
        "docker": {"image": "localhost/corral-spark:latest", "network": "HOST", "force_pull_image": True,
                   "parameters": [{"key": "label", "value": "a=b"}, {"key": "env", "value": "X=1"}]},
        "volumes": [{"host_path": "/data", "container_path": "/data", "mode": "RO"},
                    {"host_path": "/scratch", "container_path": "/mnt/scratch", "mode": "RW"}],
    }
    mesos = app_spec({"spark.app.name": "a", IMAGE: "img:1", "spark.mesos.containerizer": "mesos"})
    assert mesos.executor_image.container_info() == {
        "type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "img:1"}, "cached": True}}}
    # The executors' Python is the image's; the driver keeps its own (the launcher sets spark.pyspark.driver.python).
    assert driver_properties({IMAGE: "img:1"}, mesos, 2.0)["spark.pyspark.python"] == "python3"
    given = {IMAGE: "img:1", "spark.pyspark.python": "/opt/py/bin/python"}
    assert driver_properties(given, mesos, 2.0)["spark.pyspark.python"] == "/opt/py/bin/python"
    assert "spark.pyspark.python" not in driver_properties({}, spec(), 2.0)


@pytest.mark.parametrize("props, message", [
    ({"spark.mesos.containerizer": "rkt"}, "spark.mesos.containerizer: must be one of docker, mesos (got 'rkt')"),
    ({"spark.mesos.executor.docker.forcePullImage": "sure"}, "forcePullImage: 'sure' is not a boolean"),
    ({"spark.mesos.executor.docker.volumes": "/data"}, "'/data' names no host directory"),
    ({"spark.mesos.executor.docker.volumes": "/a:/b:/c:ro"}, "cannot parse '/a:/b:/c:ro'"),
    ({"spark.mesos.executor.docker.volumes": "data:/data"}, "the host directory must be an absolute path"),
    ({"spark.mesos.executor.docker.parameters": "privileged"}, "cannot parse 'privileged' (expected key=value)"),
    ({"spark.mesos.containerizer": "mesos", "spark.mesos.executor.docker.parameters": "a=b"},
     "docker run options need spark.mesos.containerizer=docker"),
    ({"spark.mesos.executor.home": "spark"}, "spark.mesos.executor.home: 'spark' is not an absolute path"),
])
def test_bad_image_properties_are_named(props, message) -> None:
    with pytest.raises(SparkConfError) as err:
        app_spec({"spark.app.name": "a", IMAGE: "img:1", **props})
    assert message in str(err.value)


def test_image_properties_without_an_image_are_refused() -> None:
    with pytest.raises(SparkConfError, match="spark.mesos.executor.docker.volumes: only applies with " + IMAGE):
        app_spec({"spark.app.name": "a", "spark.mesos.executor.docker.volumes": "/a:/b"})
