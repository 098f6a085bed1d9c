"""Clients find the leader through `corral.leader.detector` without loading the master; the
master contends through `corral.leader.contender`. Both choose their implementation from
the same `--master` / `--zk` values."""

import subprocess
import sys

import pytest

from corral.leader.detector import StandaloneMasterDetector, ZooKeeperMasterDetector, detector_for, parse_master
from corral.leader.zookeeper import ZooKeeperURL
from corral.protocol.master_info import address_of, master_info

CLIENTS = ["corral.leader.detector", "corral.scheduler.client", "corral.agent.master_link", "corral.cli.inspect",
           "corral.spark.dispatcher"]


def test_clients_do_not_import_the_master() -> None:
    code = ("import sys\n" + "".join(f"import {m}\n" for m in CLIENTS)
            + "print(sorted(m for m in sys.modules if m.startswith('corral.master')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_detector_for_each_form_of_master() -> None:
    standalone = detector_for("http://10.0.0.1:5050/")
    assert isinstance(standalone, StandaloneMasterDetector) and not standalone.dynamic
    assert standalone.address == "10.0.0.1:5050"
    zk = detector_for("zk://h1:2181,h2:2181/corral")
    assert isinstance(zk, ZooKeeperMasterDetector) and zk.dynamic
    assert zk.url == ZooKeeperURL.parse("zk://h1:2181,h2:2181/corral")
    with pytest.raises(ValueError, match="is not host:port or zk://"):
        parse_master("m1")


def test_the_master_info_a_detector_reads_is_the_one_a_master_writes() -> None:
    info = master_info("m-1", "master1", "10.0.0.1", 5050)
    assert address_of(info) == "10.0.0.1:5050"
    assert info["pid"] == "master@10.0.0.1:5050" and info["address"] == {"hostname": "master1", "ip": "10.0.0.1", "port": 5050}
    assert info["ip"] == 0x0100000A  # network order read as a little-endian uint32, as Mesos stores it
