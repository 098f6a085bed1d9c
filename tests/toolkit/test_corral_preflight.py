"""Bad input stops corral_master / corral_agent / spark_dispatcher in their preflight with a
message that says what is wrong (the daemons' own flag parsers decide), before anything is
changed."""
from __future__ import annotations

from test_preflight import play

# Every inventory below runs its hosts on this machine; the groups follow this header.
LOCAL = """all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  children:"""


def refused(tmp_path, inventory: str, role: str) -> str:
    """Run the role's preflight test playbook on the inventory; it must fail. Its output."""
    proc = play(tmp_path, inventory, f"tests/toolkit/playbooks/{role}.yml")
    assert proc.returncode != 0, proc.stdout[-2000:]
    return proc.stdout + proc.stderr

# Three masters (quorum 2) but a two-server ZooKeeper group: even, and fewer servers than
# quorum 2 needs; a bad allocator and weight.
BAD_MASTERS = LOCAL + """
    zookeeper:
      hosts:
        zk1:
        zk2:
    masters:
      vars:
        corral_master_allocator: "not an allocator"
        corral_master_weights: {spark: 0}
      hosts:
        m1:
        m2:
        m3:
"""


def test_master_bad_values(tmp_path):
    out = refused(tmp_path, BAD_MASTERS, "corral_master")
    assert "the ZooKeeper ensemble has 2 servers; use an odd number" in out
    assert ("quorum 2 lets 1 of the masters fail, but 2 ZooKeeper server(s) are fewer than the 3 "
            "that tolerate as many failures") in out
    assert "corral_master_allocator must be drf, priority or package.module:Class (got 'not an allocator')" in out
    assert "weight of 'spark' must be > 0" in out


# An agent with malformed resources and attributes (a range of letters: the agent's parser
# refuses it, so the preflight does too).
BAD_AGENT = LOCAL + """
    masters:
      hosts:
        m1:
    agents:
      hosts:
        a1:
          corral_agent_resources: "cpus=4;mem:1024"
          corral_agent_attributes: "rack=r1"
        a2:
          corral_agent_resources: "cpus:2;mem:1024;ports:[32000-31000]"
        a3:
          corral_agent_attributes: "zone:[a-b]"
        a4:
          corral_agent_isolation: "cgroups/mem,filesystem/linux"
"""


def test_agent_bad_values(tmp_path):
    out = refused(tmp_path, BAD_AGENT, "corral_agent")
    assert ("corral_agent_resources 'cpus=4;mem:1024' is not a resources string the agent accepts: "
            "resources: cannot parse 'cpus=4'") in out
    assert "corral_agent_attributes 'rack=r1': 'rack=r1' is not name:value" in out
    assert "resources: 'ports:[32000-31000]': range '32000-31000' has begin > end" in out
    assert "corral_agent_attributes 'zone:[a-b]': 'zone:[a-b]': bad range 'a-b' (expected begin-end)" in out
    assert "corral_agent_isolation: 'filesystem/linux' is not an isolator Corral has" in out


# Two masters and no ZooKeeper group; an explicit quorum of 1 (not a majority of 2).
NO_ZOOKEEPER = LOCAL + """
    masters:
      vars:
        corral_master_quorum: 1
      hosts:
        m1:
        m2:
"""


def test_masters_without_zookeeper(tmp_path):
    out = refused(tmp_path, NO_ZOOKEEPER, "corral_master")
    assert "2 masters need ZooKeeper to elect a leader, but the inventory group 'zookeeper' is missing or empty" in out
    assert "corral_master_quorum (1) must be a majority of the 2 master(s) in groups['masters'], between 2 and 2" in out


NO_MASTERS = LOCAL + """
    agents:
      hosts:
        a1:
"""


def test_agents_without_masters(tmp_path):
    out = refused(tmp_path, NO_MASTERS, "corral_agent")
    assert "the group 'masters' must list the masters (missing)" in out


# Security settings: an ACL action that does not exist, a credential without a secret, a
# principal that HTTP Basic cannot carry (the master's parser refuses it), and authentication
# asked for with no principals to check; the secret never shows.
BAD_SECURITY = LOCAL + """
    masters:
      hosts:
        m1:
          corral_master_acls: {register_framework: []}
          corral_master_credentials: [{principal: ops, secret: ""}]
        m2:
          corral_master_authenticate: [frameworks]
        m3:
          corral_master_credentials: [{principal: "a:b", secret: do-not-print-me}]
    agents:
      hosts:
        a1:
          corral_agent_credential: {principal: agent, password: do-not-print-me}
"""


def test_security_bad_values(tmp_path):
    out = refused(tmp_path, BAD_SECURITY, "corral_master")
    assert "corral_master_acls: ACLs: unknown action 'register_framework' (known: " in out
    assert "corral_master_credentials: entry 0 (ops): the secret must be a non-empty string" in out
    assert ("corral_master_authenticate ['frameworks'] needs principals to check against: "
            "set corral_master_credentials") in out
    assert "corral_master_credentials: entry 0: principal 'a:b' cannot contain ':'" in out
    assert "do-not-print-me" not in out
    out = refused(tmp_path, BAD_SECURITY, "corral_agent")
    assert "corral_agent_credential: entry 0: expected exactly the keys principal and secret" in out
    assert "do-not-print-me" not in out


# A dispatcher with a master address without a port, a ZooKeeper server without a port, no
# role, and a principal HTTP Basic cannot carry; its secret must not show. (An unknown mode
# stops the role earlier, in meta/argument_specs.yml.)
BAD_DISPATCHER = LOCAL + """
    masters:
      hosts:
        m1:
    spark_dispatcher:
      hosts:
        d1:
          spark_dispatcher_master: "m1"
          spark_dispatcher_zk: "zk://zk1/corral/spark-dispatcher"
          spark_dispatcher_roles: []
          spark_dispatcher_credential: {principal: "spark:x", secret: do-not-print-me}
"""


def test_dispatcher_bad_values(tmp_path):
    out = refused(tmp_path, BAD_DISPATCHER, "spark_dispatcher")
    assert "spark_dispatcher_master: 'm1' is not host:port or zk://host:port,.../path" in out
    assert "spark_dispatcher_zk: 'zk://zk1/corral/spark-dispatcher': 'zk1' is not host:port" in out
    assert "spark_dispatcher_roles []: name at least one role" in out
    assert "spark_dispatcher_credential: entry 0: principal 'spark:x' cannot contain ':'" in out
    assert "do-not-print-me" not in out
