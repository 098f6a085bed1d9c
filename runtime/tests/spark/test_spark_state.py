"""The dispatcher's pure state machine: stimuli in, launches, kills and states out (no processes)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from corral.attributes import Attributes
from corral.resources import Resources
from corral.spark import model
from corral.spark.protocol import decode_create
from corral.spark.state import DispatcherOptions, DispatcherState, SubmissionError, UnknownSubmission
from corral.spark.tasks import LauncherConfig
from support.fakes import FakeClock


def make_state(**options: Any) -> tuple[DispatcherState, FakeClock]:
    clock = FakeClock(1_000_000.0)
    state = DispatcherState(DispatcherOptions(**options), LauncherConfig(dispatcher_url="http://127.0.0.1:7077", python="/py"),
                            clock=clock)
    return state, clock


_offers = iter(range(1, 10**9))


def offer(agent: str = "a1", cpus: float = 4, mem: float = 8192, role: str = "*", attributes: str = "") -> dict[str, Any]:
    return {
        "id": {"value": f"o{next(_offers)}"}, "agent_id": {"value": agent}, "hostname": "127.0.0.1",
        "url": {"scheme": "http", "address": {"hostname": "127.0.0.1", "ip": "127.0.0.1", "port": 5051}},
        "allocation_info": {"role": role},
        "resources": Resources.parse(f"cpus:{cpus};mem:{mem}").to_json(allocation_role=role),
        "attributes": Attributes.parse(attributes).to_json() if attributes else [],
    }


def submit(state: DispatcherState, resource: str = "/apps/job.py", **props: str) -> model.Submission:
    body = {"action": "CreateSubmissionRequest", "appResource": resource, "appArgs": [],
            "sparkProperties": {"spark.app.name": "job", "spark.executor.memory": "512m", "spark.driver.memory": "512m",
                                **props},
            "clientSparkVersion": "4.0.0"}
    return state.submit(decode_create(json.dumps(body)))


def status(task_id: str, state: str, message: str = "") -> dict[str, Any]:
    return {"task_id": {"value": task_id}, "state": state, "message": message, "agent_id": {"value": "a1"}}


def tasks_of(launches: list[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    return [t for _, ts in launches for t in ts]


def start(state: DispatcherState, sub: model.Submission) -> None:
    """Bring an application to RUNNING: master reported, driver task running and reported."""
    master, driver = sub.task(model.MASTER), sub.task(model.DRIVER)
    state.update(status(master.task_id, "TASK_RUNNING"))
    state.task_report(master.task_id, {"spark_url": "spark://127.0.0.1:7000", "webui_url": "http://127.0.0.1:8080"})
    state.update(status(driver.task_id, "TASK_RUNNING"))
    state.task_report(driver.task_id, {"ui_url": "http://127.0.0.1:4040"})
    assert sub.state == model.RUNNING


def test_launch_places_master_driver_and_workers_together() -> None:
    state, _ = make_state()
    sub = submit(state)
    assert sub.state == model.QUEUED and sub.id.startswith("driver-") and state.wants_offers()
    launches, declines = state.offers([offer("a1", cpus=2, mem=4096), offer("a2", cpus=2, mem=4096)])
    tasks = tasks_of(launches)
    kinds = sorted(t["labels"]["labels"][1]["value"] for t in tasks)
    assert kinds == ["driver", "master", "worker"] and not declines
    assert sub.state == model.LAUNCHING and sub.attempt == 1
    # Every task fits its offer, and runs the launcher with the dispatcher's address.
    for offer_id, ts in launches:
        used = sum((Resources.from_json(t["resources"]) for t in ts), Resources())
        assert used.scalar("cpus") <= 2 and used.scalar("mem") <= 4096
    worker = next(t for t in tasks if "worker" in t["task_id"]["value"])
    args = worker["command"]["arguments"]
    assert args[:4] == ["/py", "-m", "corral.spark.launcher", "worker"] and "http://127.0.0.1:7077" in args
    assert args[args.index("--cores") + 1] == "2" and args[args.index("--memory") + 1] == "512m"
    assert Resources.from_json(worker["resources"]).scalar("mem") == 384 + 512 + 384
    driver = next(t for t in tasks if t["task_id"]["value"].endswith(".driver"))
    spec = json.loads(driver["command"]["arguments"][driver["command"]["arguments"].index("--spec") + 1])
    assert spec["kind"] == "python" and spec["resource"] == "/apps/job.py" and spec["driver_memory"] == "512m"


def test_coarse_workers_honour_cores_max_one_per_agent() -> None:
    state, _ = make_state()
    sub = submit(state, **{"spark.cores.max": "3"})
    state.offers([offer("a1", cpus=4), offer("a2", cpus=4)])
    assert sum(w.cores for w in sub.current(model.WORKER)) == 3
    assert len({w.agent_id for w in sub.current(model.WORKER)}) == len(sub.current(model.WORKER))
    launches, _ = state.offers([offer("a3", cpus=4)])
    assert not launches and not state.wants_offers()


def test_unmatched_constraints_keep_the_app_queued_with_the_reason() -> None:
    state, _ = make_state()
    sub = submit(state, **{"spark.mesos.constraints": "rack:r9"})
    launches, declines = state.offers([offer("a1", attributes="rack:r1;os:debian"), offer("a2", attributes="rack:r2")])
    assert not launches and len(declines) == 2
    assert sub.state == model.QUEUED
    assert "no agent matches spark.mesos.constraints 'rack:r9'" in sub.reason and "rack=r1" in sub.reason
    matching = submit(state, **{"spark.mesos.constraints": "rack:r1,r2;os:debian"})
    launches, _ = state.offers([offer("a1", attributes="rack:r1;os:debian")])
    assert matching.state == model.LAUNCHING and sub.state == model.QUEUED


def test_too_small_offers_and_roles_give_reasons() -> None:
    state, _ = make_state(roles=("*", "ads"))
    sub = submit(state, **{"spark.mesos.role": "ads"})
    state.offers([offer("a1", role="*")])
    assert sub.state == model.QUEUED and "role 'ads'" in sub.reason
    state.offers([offer("a1", cpus=0.5, mem=4096, role="ads")])
    assert "cpus >= 1 and mem >= 896 MB for the driver" in sub.reason
    with pytest.raises(SubmissionError, match="role 'dev' is not served"):
        submit(state, **{"spark.mesos.role": "dev"})
    with pytest.raises(SubmissionError, match="spark.executor.memory"):
        submit(state, **{"spark.executor.memory": "12x"})


def test_driver_end_finishes_the_app_and_kills_the_rest() -> None:
    state, _ = make_state()
    sub = submit(state)
    state.offers([offer("a1", cpus=4)])
    start(state, sub)
    state.update(status(sub.task(model.DRIVER).task_id, "TASK_FINISHED", "Command exited with status 0"))
    assert sub.state == model.FINISHED and "status 0" in sub.reason
    killed = {t for t, _ in state.take_kills()}
    assert killed == {t.task_id for t in sub.tasks.values() if t.kind != model.DRIVER}
    assert not state.wants_offers()


def test_supervised_driver_is_retried_with_backoff() -> None:
    state, clock = make_state(retry_wait_max=3)
    sub = submit(state, **{"spark.driver.supervise": "true"})
    for attempt, wait in ((1, 1.0), (2, 2.0), (3, 3.0)):
        state.offers([offer("a1")])
        assert sub.state == model.LAUNCHING and sub.attempt == attempt
        state.update(status(sub.task(model.DRIVER).task_id, "TASK_FAILED", "Command exited with status 1"))
        assert sub.state == model.RETRYING and sub.retries == attempt and sub.retry_wait == wait
        assert "status 1" in sub.reason
        launches, _ = state.offers([offer("a1")])
        assert not launches  # not due yet
        clock.now += wait
        state.tick()
    old = [t for t in sub.tasks.values() if t.attempt < sub.attempt]
    assert all(t.kill_sent_at for t in old if not t.terminal)
    state.kill(sub.id)
    unsupervised = submit(state)
    state.offers([offer("a2")])
    state.update(status(unsupervised.task(model.DRIVER).task_id, "TASK_FAILED"))
    assert unsupervised.state == model.FAILED


def test_an_attempt_whose_tasks_all_end_is_retried_once() -> None:
    """A lost agent (or a reconciliation after a failover) ends the master, driver and workers of an
    attempt one update after another: the first ends the attempt, the rest are one retry, not three."""
    state, _ = make_state()
    sub = submit(state, **{"spark.driver.supervise": "true"})
    state.offers([offer("a1")])
    start(state, sub)
    state.update(status(sub.task(model.MASTER).task_id, "TASK_UNKNOWN", "Reconciliation: Task is unknown"))
    driver = next(t for t in sub.tasks.values() if t.kind == model.DRIVER)
    state.update(status(driver.task_id, "TASK_GONE", "Reconciliation: Task is unknown to the agent"))
    assert sub.state == model.RETRYING and sub.retries == 1 and "Spark master task ended" in sub.reason


def test_kill_queued_and_running() -> None:
    state, _ = make_state()
    queued = submit(state, **{"spark.mesos.constraints": "rack:none"})
    assert state.kill(queued.id) == (True, "Removed driver while it was queued")
    assert queued.state == model.KILLED
    assert state.kill(queued.id)[0] is False
    running = submit(state)
    state.offers([offer("a1")])
    start(state, running)
    ok, message = state.kill(running.id)
    assert ok and message == "Killing running driver"
    assert {t for t, _ in state.take_kills()} == {t.task_id for t in running.tasks.values()}
    for task in running.tasks.values():
        state.update(status(task.task_id, "TASK_KILLED"))
    assert running.state == model.KILLED
    with pytest.raises(UnknownSubmission):
        state.kill("driver-nope")


def test_max_drivers_leaves_the_rest_queued() -> None:
    state, _ = make_state(max_drivers=1)
    first, second = submit(state), submit(state)
    state.offers([offer("a1", cpus=8, mem=16384)])
    assert first.state == model.LAUNCHING and second.state == model.QUEUED
    assert "1 of 1 concurrent drivers" in second.reason


def test_fine_grained_scales_with_the_backlog_and_releases_idle_workers() -> None:
    state, clock = make_state(worker_idle_timeout=2.0)
    sub = submit(state, **{"spark.corral.mode": "fine", "spark.cores.max": "3"})
    state.offers([offer("a1", cpus=4)])
    assert sub.state == model.LAUNCHING and not sub.current(model.WORKER)  # placeable, none wanted yet
    start(state, sub)
    metrics = {"gauges": {"app-1.driver.ExecutorAllocationManager.executors.numberTargetExecutors": {"value": 8}}}
    state.observe(sub.id, None, metrics)
    assert sub.wanted_workers == 3 and state.wants_offers()  # capped by spark.cores.max
    state.offers([offer("a1", cpus=2), offer("a2", cpus=2)])
    workers = sub.current(model.WORKER)
    assert len(workers) == 3 and all(w.cores == 1 and w.cpus == 1 for w in workers)
    assert not state.wants_offers()
    for i, w in enumerate(workers):
        state.task_report(w.task_id, {"host": "127.0.0.1", "port": 9000 + i})
    busy = {"activeapps": [{"id": "app-1"}],
            "workers": [{"host": "127.0.0.1", "port": 9000 + i, "state": "ALIVE", "coresused": 1} for i in range(3)]}
    state.observe(sub.id, busy, metrics)
    assert sub.app_id == "app-1" and not state.take_kills()
    idle = {"activeapps": [{"id": "app-1"}],
            "workers": [{"host": "127.0.0.1", "port": 9000 + i, "state": "ALIVE", "coresused": 0} for i in range(3)]}
    zero = {"gauges": {"app-1.driver.ExecutorAllocationManager.executors.numberTargetExecutors": {"value": 0}}}
    state.observe(sub.id, idle, zero)
    assert not state.take_kills()  # idle, but not for long enough
    clock.now += 2.5
    state.observe(sub.id, idle, zero)
    assert {t for t, _ in state.take_kills()} == {w.task_id for w in workers}
    for w in workers:
        state.update(status(w.task_id, "TASK_KILLED"))
    assert sub.state == model.RUNNING and not state.wants_offers()


def test_master_death_fails_the_attempt_and_launch_timeout() -> None:
    state, clock = make_state(launch_timeout=30)
    sub = submit(state)
    state.offers([offer("a1")])
    state.update(status(sub.task(model.MASTER).task_id, "TASK_FAILED", "Command exited with status 1"))
    assert sub.state == model.FAILED and "Spark master task ended" in sub.reason
    slow = submit(state)
    state.offers([offer("a2")])
    clock.now += 31
    state.tick()
    assert slow.state == model.FAILED and "did not start within 30s" in slow.reason


def test_unknown_tasks_are_killed_and_state_survives_a_round_trip() -> None:
    state, _ = make_state()
    state.update(status("driver-20990101000000-0042.1.worker-1", "TASK_RUNNING"))
    assert state.take_kills() == [("driver-20990101000000-0042.1.worker-1", "a1")]
    queued = submit(state, **{"spark.mesos.constraints": "rack:none"})
    running = submit(state)
    state.offers([offer("a1")])
    dirty, _ = state.take_dirty()
    stored = [json.loads(json.dumps(s.to_json())) for s in dirty]
    again, _ = make_state()
    again.recover([model.Submission.from_json(d) for d in stored])
    assert again.get(queued.id).state == model.QUEUED and again.get(running.id).state == model.LAUNCHING
    assert {t for t, _ in again.reconcile_list()} == set(running.tasks)
    assert submit(again).id.endswith("-0003")  # the counter continues


def test_without_offers_the_reason_comes_from_the_cluster_agents() -> None:
    state, clock = make_state()
    state.set_agents({"a1": Attributes.parse("rack:r1").to_json(), "a2": Attributes.parse("rack:r2").to_json()})
    sub = submit(state, **{"spark.mesos.driver.constraints": "rack:r3"})
    assert sub.reason.startswith("no agent matches spark.mesos.driver.constraints 'rack:r3' (2 agent(s) seen")
    busy = submit(state)
    clock.now += 10
    state.tick()
    assert busy.reason == "waiting for resource offers (the resources of the matching agents are in use)"
    # Offers too small for the driver do not hide that the constraints can never match.
    state.offers([offer("a1", cpus=0.5, attributes="rack:r1")])
    assert "no agent matches spark.mesos.driver.constraints" in sub.reason
    assert "for the driver" in busy.reason
