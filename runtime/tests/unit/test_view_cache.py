"""The view cache never shows a stale agent, task or offer (master/viewcache.py).

After every step of a cluster's life, `/state`, `/master/slaves` and GET_STATE built with the
cache that earlier answers filled are the same as those built from an empty cache.
"""

from __future__ import annotations

import msgspec

from corral.master import operator, viewcache, views
from test_master_state import add_agent, launch, master, offers, run_for, subscribe, task, update  # noqa: F401 (fixture)


def answers(m):
    encode = msgspec.json.encode
    return {
        "/state": views.state(m, {}, m.master_info),
        "/master/slaves": views.agents(m),
        "/master/frameworks": views.frameworks(m),
        "GET_STATE": msgspec.json.decode(encode(operator.get_state(m, raw=True))),
        "GET_AGENTS": operator.get_agents(m),
    }


def check_fresh(m, step):
    cached = answers(m)  # from the cache the earlier steps filled
    viewcache._caches.pop(m, None)
    fresh = answers(m)
    for name in fresh:
        assert cached[name] == fresh[name], f"{name} is stale after {step}"
    answers(m)  # (and fill the cache again for the next step)


def test_cached_views_follow_every_change(master):
    m = master
    check_fresh(m, "nothing")
    agent, _ = add_agent(m, "cpus:4;mem:4096;ports:[31000-31010]")
    other, _ = add_agent(m)
    check_fresh(m, "two agents registered")
    fw, conn = subscribe(m, roles=["*"], capabilities=[{"type": "MULTI_ROLE"}])
    check_fresh(m, "a framework subscribed")
    made = offers(m, conn)
    check_fresh(m, "offers made")
    mine = [o for o in made if o["agent_id"]["value"] == agent.id]
    launch(m, fw, mine, [task("t1", mine[0], "cpus:1;mem:128;ports:[31000-31000]")])
    check_fresh(m, "a task launched")
    up = update("t1", "TASK_RUNNING", agent.id)
    up["framework_id"] = {"value": fw.id}
    m.status_update(agent, up)
    check_fresh(m, "the task running")
    m.deactivate_agent(other.id)
    check_fresh(m, "an agent deactivated")
    m.reactivate_agent(other.id)
    check_fresh(m, "the agent reactivated")
    m.drain_agent(agent.id, {"mark_gone": False})
    check_fresh(m, "an agent draining")
    done = update("t1", "TASK_KILLED", agent.id)
    done["framework_id"] = {"value": fw.id}
    m.status_update(agent, done)
    check_fresh(m, "the task killed")
    m.acknowledge(fw, agent.id, "t1", done["status"]["uuid"])
    check_fresh(m, "the kill acknowledged")
    run_for(m, 1)
    assert agent.drain["state"] == "DRAINED"
    check_fresh(m, "the agent drained")
    m.disconnect_agent(other.id, other.connection)
    check_fresh(m, "an agent disconnected")
    again, _ = add_agent(m)
    check_fresh(m, "an agent registered again")
    run_for(m, 1)
    check_fresh(m, "rounds of allocation")
