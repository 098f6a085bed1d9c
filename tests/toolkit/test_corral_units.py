"""Fast tests of the corral roles' Python pieces: the cluster filters (ZooKeeper URL, flag
checks with the runtime's own parsers) and the wheelhouse fingerprint. No services."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO
from test_units import load

cluster = load("plugins/filter/corral_cluster.py", "corral_cluster_filters")
wheelhouse = load("roles/corral_runtime/files/wheelhouse.py", "corral_wheelhouse")


def test_zk_url_from_the_zookeeper_group():
    servers = [{"inventory_hostname": "zk1", "ansible_host": "10.0.0.1"},
               {"inventory_hostname": "zk2", "zookeeper_address": "zk2.example", "zookeeper_client_port": 2281},
               {"inventory_hostname": "zk3"}]
    assert cluster.zk_url(servers) == "zk://10.0.0.1:2181,zk2.example:2281,zk3:2181/corral"
    assert cluster.zk_url(servers[:1], "/prod/corral/") == "zk://10.0.0.1:2181/prod/corral"
    assert cluster.zk_url([]) == ""


def test_resources_are_checked_with_the_runtimes_parser():
    ok = "cpus:2;mem:3072;cpus(spark):1;mem(spark):1024;disk:10240;ports:[31000-32000]"
    assert cluster.resources_problem(ok) == ""
    assert cluster.resources_problem("") == ""
    assert "cannot parse 'cpus=4'" in cluster.resources_problem("cpus=4;mem:1024")
    assert "not a number" in cluster.resources_problem("cpus:four")
    assert "range" in cluster.resources_problem("ports:[32000-31000]")
    assert cluster.resources_problem("cpus(a b):1") != ""


def test_attributes_weights_roles_durations():
    assert cluster.attributes_problem("rack:r1;os:debian") == ""
    assert cluster.attributes_problem({"rack": "r1"}) == ""
    assert "not name:value" in cluster.attributes_problem("rack=r1")
    assert cluster.weights_problem({"spark": 2.0, "batch": 1}) == ""
    assert cluster.weights_problem({}) == ""
    assert "must be > 0" in cluster.weights_problem({"spark": 0})
    assert cluster.roles_problem(["*", "spark"]) == ""
    assert cluster.roles_problem([]) == ""
    assert cluster.roles_problem(["bad role"]) != ""
    assert cluster.duration_problem("5secs") == "" and cluster.duration_problem(10) == ""
    assert cluster.duration_problem("soon") != ""


def test_wheelhouse_fingerprint_follows_content_not_caches(tmp_path):
    project = tmp_path / "proj"
    (project / "src/pkg/__pycache__").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'pkg'\nversion = '1'\n")
    (project / "src/pkg/__init__.py").write_text("X = 1\n")
    py = {"version": "3.11", "platform": "linux-x86_64", "abi": "cpython-311"}
    first = wheelhouse.fingerprint([str(project)], [], py)
    (project / "src/pkg/__pycache__/x.pyc").write_bytes(b"cache")
    (project / "build").mkdir()
    (project / "build/junk").write_text("junk")
    assert wheelhouse.fingerprint([str(project)], [], py) == first
    (project / "src/pkg/__init__.py").write_text("X = 2\n")
    assert wheelhouse.fingerprint([str(project)], [], py) != first
    assert wheelhouse.fingerprint(["pyspark>=4"], [], py) != wheelhouse.fingerprint(["pyspark>=4,<5"], [], py)
    assert wheelhouse.fingerprint(["x"], [], py) != wheelhouse.fingerprint(["x"], [], dict(py, version="3.12"))


def test_wheelhouse_build_is_one_archive_with_a_manifest(tmp_path):
    project = tmp_path / "proj"
    (project / "src/tinypkg").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        "[build-system]\nrequires = []\nbuild-backend = 'setuptools.build_meta'\n"
        "[project]\nname = 'tinypkg'\nversion = '1.0'\n")
    (project / "src/tinypkg/__init__.py").write_text("")
    cache = tmp_path / "cache"
    cmd = [sys.executable, str(REPO / "roles/corral_runtime/files/wheelhouse.py"), "--cache", str(cache),
           "--name", "tiny", "--pip-arg=--no-build-isolation", "--pip-arg=--no-index", "--", str(project)]
    inspect = json.loads(subprocess.run(cmd[:2] + ["inspect"] + cmd[2:], capture_output=True, text=True,
                                        check=True).stdout)
    assert not inspect["complete"] and inspect["wheels"] == []
    built = json.loads(subprocess.run(cmd[:2] + ["build"] + cmd[2:], capture_output=True, text=True,
                                      check=True).stdout)
    assert built["complete"] and built["built"] and built["fingerprint"] == inspect["fingerprint"]
    assert built["wheels"] == ["tinypkg-1.0-py3-none-any.whl"]
    assert sorted(p.name for p in Path(built["path"]).iterdir()) == ["manifest.json", "wheels.tar"]
    assert not (project / "build").exists()  # built from a copy
    again = json.loads(subprocess.run(cmd[:2] + ["build"] + cmd[2:], capture_output=True, text=True,
                                      check=True).stdout)
    assert again["complete"] and not again["built"]
