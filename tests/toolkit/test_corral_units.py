"""Fast tests of the corral roles' Python pieces: the cluster filters (ZooKeeper URL, flag
checks with the daemons' own flag parsers) and the wheelhouse fingerprint. No services."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO, VENV_BIN
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


def test_resources_are_checked_with_the_agents_parser():
    def problem(value):
        return cluster.flag_problem(value, "agent", "resources")

    assert problem("cpus:2;mem:3072;cpus(spark):1;mem(spark):1024;disk:10240;ports:[31000-32000]") == ""
    assert problem("") == "" and problem(None) == ""
    assert "cannot parse 'cpus=4'" in problem("cpus=4;mem:1024")
    assert "not a number" in problem("cpus:four")
    assert "range" in problem("ports:[32000-31000]")
    assert problem("cpus(a b):1") != ""


def test_attributes_weights_roles_durations():
    assert cluster.flag_problem("rack:r1;os:debian", "agent", "attributes") == ""
    assert cluster.flag_problem({"rack": "r1"}, "agent", "attributes") == ""
    assert "not name:value" in cluster.flag_problem("rack=r1", "agent", "attributes")
    assert (cluster.flag_problem("zone:[a-b]", "agent", "attributes")
            == "'zone:[a-b]': bad range 'a-b' (expected begin-end)")
    assert cluster.flag_problem({"spark": 2.0, "batch": 1}, "master", "weights") == ""
    assert cluster.flag_problem({}, "master", "weights") == ""
    assert "must be > 0" in cluster.flag_problem({"spark": 0}, "master", "weights")
    assert cluster.flag_problem(["*", "spark"], "master", "roles") == ""
    assert cluster.flag_problem([], "master", "roles") == ""
    assert cluster.flag_problem(["bad role"], "master", "roles") != ""
    assert cluster.flag_problem("5secs", "master", "zk_session_timeout") == ""
    assert cluster.flag_problem(10, "master", "zk_session_timeout") == ""
    assert cluster.flag_problem("soon", "master", "zk_session_timeout") != ""


def test_zookeeper_master_allocator_and_port_checks():
    assert cluster.flag_problem("zk://10.0.0.1:2181,zk2:2281/corral", "master", "zk") == ""
    assert cluster.flag_problem("", "master", "zk") == ""
    assert "is not zk://host:port" in cluster.flag_problem("zk:/h:2181/corral", "master", "zk")
    assert "'h' is not host:port" in cluster.flag_problem("zk://h/corral", "spark-dispatcher", "zk")
    assert cluster.zk_servers("zk://user:pass@h1:2181,h2:2181/corral") == ["h1:2181", "h2:2181"]
    assert cluster.zk_servers("") == [] and cluster.zk_servers("nonsense") == []
    assert cluster.flag_problem("zk://user:pass@h1:2181/corral", "agent", "master") == ""
    assert cluster.flag_problem("https://m1:5050/", "agent", "master") == ""
    assert "is not host:port" in cluster.flag_problem("m1", "spark-dispatcher", "master")
    assert cluster.allocator_problem("drf") == "" and cluster.allocator_problem("my.pkg:Mine") == ""
    assert (cluster.allocator_problem("not an allocator")
            == "must be drf, priority or package.module:Class (got 'not an allocator')")
    assert cluster.flag_problem(5050, "master", "port") == ""
    assert "is not a port number" in cluster.flag_problem(70000, "agent", "port")
    assert "'fine-ish' is not one of" in cluster.flag_problem("fine-ish", "spark-dispatcher", "mode")


def test_a_principal_with_a_colon_is_refused_as_the_master_refuses_it(tmp_path):
    """The role's check and `corral master --credentials` give the same message: the filter
    calls the master's parser on what the role renders into credentials.json."""
    entries = [{"principal": "ops", "secret": "do-not-print-me"}, {"principal": "a:b", "secret": "do-not-print-me"}]
    problem = cluster.credentials_problem(entries)
    assert problem.startswith("entry 1: principal 'a:b' cannot contain ':'")
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"credentials": entries}))
    path.chmod(0o600)
    master = subprocess.run([str(VENV_BIN / "corral"), "master", "--credentials", str(path), "--port", "0",
                             "--work_dir", str(tmp_path / "master")], capture_output=True, text=True, timeout=60)
    assert master.returncode == 2
    assert master.stderr.strip() == f"error: --credentials: {path}: {problem}"
    assert "do-not-print-me" not in problem + master.stderr
    assert cluster.credentials_problem(entries[:1]) == "" and cluster.credentials_problem([]) == ""
    assert cluster.credentials_problem([entries[0], entries[0]]) == "entry 1: principal ops is listed twice"


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
