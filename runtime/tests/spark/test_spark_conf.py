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
