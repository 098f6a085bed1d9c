"""The soak's nemesis: seeded, one fault at a time, each healed before the next.

Each fault returns its record for the history: `fault`, `target`, `t` (injected), `healed`
(everything back), and for a fault of an agent the ids the master knew it by.
"""

from __future__ import annotations

import json
import random
import signal
import time
from typing import Any

from cluster import Cluster, Daemon
from spark_workload import SparkWorkload
from workload import FAILOVER_TIMEOUT

# (fault, weight): quorum loss and a scheduler kept away past its failover_timeout are rare.
FAULTS = [("kill_leader", 3.0), ("kill_standby", 2.0), ("kill_agent", 3.0), ("kill_agent_new_work_dir", 1.0),
          ("zk_kill_server", 2.0), ("zk_quorum_loss", 0.5), ("pause_agent", 2.0), ("pause_leader", 1.5),
          ("kill_scheduler", 2.0), ("kill_scheduler_past_failover_timeout", 0.6), ("kill_dispatcher", 1.0)]


class Nemesis:
    def __init__(self, cluster: Cluster, spark: SparkWorkload, rng: random.Random) -> None:
        self.cluster, self.spark, self.rng = cluster, spark, rng
        self.incarnation = 0  # of the checkpointing framework
        self.lineage = [0]  # its incarnations that share the current framework id
        self.default_incarnation = 0

    def strike(self) -> list[dict[str, Any]]:
        """Inject one fault chosen at random, heal it, and return what to record."""
        names, weights = zip(*FAULTS)
        fault = self.rng.choices(names, weights)[0]
        record: dict[str, Any] = {"kind": "fault", "fault": fault, "t": time.time()}
        extra = getattr(self, "_" + fault)(record)
        if record.get("skipped"):
            return []
        record["healed"] = time.time()
        return [record] + extra

    # -- masters ------------------------------------------------------------------------------

    def _kill_leader(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        return self._kill_master(record, self.cluster.leader())

    def _kill_standby(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        leader = self.cluster.leader()
        standbys = [m for m in self.cluster.masters if m is not leader and m.alive()]
        return self._kill_master(record, self.rng.choice(standbys) if standbys else None)

    def _kill_master(self, record: dict[str, Any], master: Daemon | None) -> list[dict[str, Any]]:
        """SIGKILL, and start again on the same work_dir after a second or three."""
        if master is None:
            record["skipped"] = True
            return []
        record["target"] = f"master {self.cluster.masters.index(master)}"
        master.kill(signal.SIGKILL)
        time.sleep(self.rng.uniform(1, 3))
        master.start()
        return []

    def _pause_leader(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """Longer than the ZooKeeper session: another master leads; the paused one must step down."""
        leader = self.cluster.leader()
        if leader is None or leader.proc is None:
            record["skipped"] = True
            return []
        record["target"] = f"master {self.cluster.masters.index(leader)}"
        leader.proc.send_signal(signal.SIGSTOP)
        time.sleep(self.rng.uniform(3, 5))
        leader.proc.send_signal(signal.SIGCONT)
        return []

    # -- agents -------------------------------------------------------------------------------

    def _agent(self, record: dict[str, Any]):
        agent = self.rng.choice(self.cluster.agents)
        record["target"] = f"agent {agent.index}"
        record["agent_ids"] = sorted(self.cluster.agent_ids()[agent.index])
        return agent

    def _kill_agent(self, record: dict[str, Any], fresh: bool = False) -> list[dict[str, Any]]:
        agent = self._agent(record)
        assert agent.daemon is not None
        agent.daemon.kill(signal.SIGKILL)
        time.sleep(self.rng.uniform(1, 3))
        agent.start(fresh=fresh)
        return []

    def _kill_agent_new_work_dir(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        return self._kill_agent(record, fresh=True)

    def _pause_agent(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """Longer than the master's health checks (0.5 s x 6): the master gives up on it, then it is back."""
        agent = self._agent(record)
        assert agent.daemon is not None and agent.daemon.proc is not None
        agent.daemon.proc.send_signal(signal.SIGSTOP)
        time.sleep(self.rng.uniform(4, 6))
        agent.daemon.proc.send_signal(signal.SIGCONT)
        return []

    # -- ZooKeeper ----------------------------------------------------------------------------

    def _zk_down(self, record: dict[str, Any], count: int, seconds: float) -> list[dict[str, Any]]:
        zk = self.cluster.zookeeper
        servers = self.rng.sample(range(3), count)
        record["target"] = "ZooKeeper " + ",".join(map(str, servers))
        for i in servers:
            proc = zk.procs[i]
            if proc is not None:
                proc.kill()
                proc.wait()
            zk.procs[i] = None
        time.sleep(seconds)
        for i in servers:
            zk.start_server(i)
        zk.wait_serving(servers)
        return []

    def _zk_kill_server(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        return self._zk_down(record, 1, self.rng.uniform(3, 6))

    def _zk_quorum_loss(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """Two of three: the masters go into safe mode until the quorum is back."""
        return self._zk_down(record, 2, self.rng.uniform(6, 10))

    # -- the checkpointing framework's scheduler ------------------------------------------------

    def _kill_scheduler(self, record: dict[str, Any], past_timeout: bool = False) -> list[dict[str, Any]]:
        proc = self.cluster.frameworks.get("checkpoint")
        framework_id = self._framework_id()
        if proc is None or proc.poll() is not None or framework_id is None:
            record["skipped"] = True
            return []
        record["target"] = f"checkpoint scheduler (incarnation {self.incarnation})"
        proc.kill()
        proc.wait()
        time.sleep(FAILOVER_TIMEOUT + self.rng.uniform(4, 8) if past_timeout else self.rng.uniform(1, 5))
        extra = []
        if past_timeout:  # the master removes the framework and may kill its tasks: a new framework comes
            extra = [{"kind": "removed", "t": time.time(), "framework": "checkpoint", "incarnation": i} for i in self.lineage]
            framework_id, self.lineage = None, []
        self.incarnation += 1
        self.lineage.append(self.incarnation)
        self.cluster.start_framework("checkpoint", self.incarnation, framework_id)
        return extra

    def _kill_scheduler_past_failover_timeout(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        return self._kill_scheduler(record, past_timeout=True)

    def _kill_dispatcher(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """The Spark dispatcher is a framework's scheduler too: SIGKILL, back on the same queue (its
        failover_timeout is a week, so its applications' tasks must keep running meanwhile)."""
        record["target"] = "Spark dispatcher"
        self.spark.dispatcher.stop(signal.SIGKILL)
        time.sleep(self.rng.uniform(1, 5))
        try:
            self.spark.dispatcher.start(wait=True)
        except AssertionError:  # (not subscribed within 30 s: no leader, on a loaded machine; the soak's end
            pass  # checks that it is subscribed, as it checks every process)
        return []

    def revive_crashed(self) -> list[dict[str, Any]]:
        """A framework process that died by itself (not by the nemesis) is a violation; it is started
        again with its framework id so that the soak goes on."""
        out = []
        for kind, log in self.cluster.crashed_frameworks():
            out.append({"kind": "unhealthy", "t": time.time(), "what": f"framework process {kind} crashed: ...{log[-600:]}"})
            if kind == "checkpoint":
                self.incarnation += 1
                self.lineage.append(self.incarnation)
                incarnation = self.incarnation
            else:
                self.default_incarnation += 1
                incarnation = self.default_incarnation
            self.cluster.start_framework(kind, incarnation, self._framework_id(kind))
        return out

    def _framework_id(self, kind: str = "checkpoint") -> str | None:
        """A framework's id, from its last subscription in the history."""
        found = None
        if not self.cluster.history.exists():
            return None
        with open(self.cluster.history) as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("kind") == "subscribed" and record.get("framework") == kind:
                    found = record["framework_id"]
        return found
