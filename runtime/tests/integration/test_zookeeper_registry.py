"""The ZooKeeper registry on a real ZooKeeper: what one leader writes, the next one reads back whole
(master/registry.py reads the agents' znodes pipelined)."""

from __future__ import annotations

import asyncio

from corral.leader.zookeeper import ZooKeeperURL, make_client
from corral.master.registry import ZooKeeperRegistry


def test_a_new_leader_reads_back_every_agent_and_setting(zookeeper):
    url = ZooKeeperURL.parse(zookeeper.url("/corral"))
    writer, reader = make_client(url, 10), make_client(url, 10)
    writer.start(timeout=30)
    reader.start(timeout=30)
    try:
        registry = ZooKeeperRegistry(writer, "/corral-registry")
        registry.load()  # (creates the parents, as a leader's first load does)

        async def write():
            for i in range(500):
                registry.admit_agent(f"A{i}", {"hostname": f"h{i}", "port": 5051})
            registry.mark_unreachable("A1", 1234.5)
            registry.mark_gone("A2")
            registry.set_weights({"dev": 2.0})
            registry.set_quotas({"dev": {"role": "dev", "guarantees": {"cpus": {"value": 1}}}})
            await registry.flush(timeout=30)

        asyncio.run(write())
        data = ZooKeeperRegistry(reader, "/corral-registry").load()
        assert len(data.agents) == 499 and data.agents["A499"] == {"hostname": "h499", "port": 5051}
        assert "A2" not in data.agents and data.gone == {"A2"}
        assert data.unreachable == {"A1": 1234.5}
        assert data.weights == {"dev": 2.0} and data.quotas["dev"]["role"] == "dev"
        assert data.deactivations == {} and data.maintenance == {}
    finally:
        writer.stop()
        reader.stop()


def test_a_new_leader_writes_only_what_changed(zookeeper):
    """Re-registering with a new leader, 10,000 agents would otherwise rewrite 10,000 znodes."""
    url = ZooKeeperURL.parse(zookeeper.url("/corral"))
    client = make_client(url, 10)
    client.start(timeout=30)
    root = "/corral-registry-changes"
    try:
        first = ZooKeeperRegistry(client, root)
        first.load()

        async def admit(registry, agents):
            for agent_id, info in agents.items():
                registry.admit_agent(agent_id, info)
            await registry.flush(timeout=30)

        asyncio.run(admit(first, {"A": {"hostname": "a"}, "B": {"hostname": "b"}}))
        first.mark_unreachable("B", 99.0)
        asyncio.run(first.flush(timeout=30))
        versions = {name: client.exists(f"{root}/agents/{name}").version for name in "AB"}

        leader = ZooKeeperRegistry(client, root)  # the next leader
        assert set(leader.load().agents) == {"A", "B"}
        asyncio.run(admit(leader, {"A": {"hostname": "a"}, "B": {"hostname": "b"}}))  # re-registered, unchanged
        assert {name: client.exists(f"{root}/agents/{name}").version for name in "AB"} == versions
        assert client.exists(f"{root}/unreachable/B") is None  # (B came back: that is a change)
        asyncio.run(admit(leader, {"A": {"hostname": "a2"}}))
        assert client.exists(f"{root}/agents/A").version == versions["A"] + 1
        assert ZooKeeperRegistry(client, root).load().agents["A"] == {"hostname": "a2"}
    finally:
        client.stop()
