"""The agent's `/state` document (Mesos's `/slave(1)/state`) and `/monitor/statistics`,
rendered from `AgentState`."""

from __future__ import annotations

from typing import Any, Callable

from corral import MESOS_API_VERSION, __version__
from corral.agent.model import AgentTask, Executor
from corral.agent.state import AgentState


def state_json(
    state: AgentState,
    *,
    start_time: float,
    attributes: dict[str, Any],
    master_hostname: str,
    isolation: str,
    flags: dict[str, Any],
) -> dict[str, Any]:
    def executor_json(e: Executor) -> dict[str, Any]:
        return {
            "id": e.executor_id,
            "name": e.info.get("name", ""),
            "source": e.info.get("source", ""),
            "container": e.container_id,
            "directory": e.directory,
            "type": e.kind,
            "resources": e.total_resources().legacy_dict(),
            "pid": e.pid,
            "tasks": [task_json(t) for t in e.tasks.values() if t.launched and not t.terminal],
            "queued_tasks": [task_json(t) for t in e.tasks.values() if not t.launched and not t.terminal],
            "completed_tasks": [task_json(t) for t in list(e.tasks.values()) + list(e.completed_tasks) if t.terminal],
        }

    def task_json(t: AgentTask) -> dict[str, Any]:
        return {
            "id": t.task_id,
            "name": t.info.get("name", ""),
            "framework_id": t.framework_id,
            "executor_id": t.executor_id,
            "slave_id": state.agent_id,
            "state": t.state,
            "resources": t.resources.legacy_dict(),
        }

    frameworks = []
    for fw in state.frameworks.values():
        frameworks.append(
            {
                "id": fw.id,
                "name": fw.info.get("name", ""),
                "user": fw.info.get("user", ""),
                "role": fw.info.get("role", "*"),
                "roles": fw.info.get("roles", []),
                "executors": [executor_json(e) for e in fw.executors.values()],
                "completed_executors": [executor_json(e) for e in fw.completed_executors],
            }
        )
    total = state.options.total
    return {
        "version": MESOS_API_VERSION,
        "corral_version": __version__,
        "id": state.agent_id,
        "pid": f"slave(1)@{state.endpoint}",
        "hostname": state.options.hostname,
        "start_time": start_time,
        "resources": total.legacy_dict(),
        "reserved_resources_full": {r: total.reserved(r).to_json() for r in total.reservation_roles()},
        "attributes": attributes,
        "master_hostname": master_hostname,
        "isolation": isolation,
        "flags": flags,
        "frameworks": frameworks,
        "completed_frameworks": [],
    }


def _running(state: AgentState) -> list[tuple[str, Executor]]:
    return [(fw.id, e) for fw in state.frameworks.values() for e in fw.executors.values() if e.pid is not None]


def resource_statistics(e: Executor, usage: Callable[[Executor], dict[str, Any]], now: float) -> dict[str, Any]:
    """An executor's ResourceStatistics: its limits and what its container reports (`usage`:
    the isolator's cgroup or process counters, which win where both say)."""
    total = e.total_resources()
    return {"timestamp": now, "cpus_limit": total.scalar("cpus"), "mem_limit_bytes": int(total.scalar("mem") * 2**20),
            **usage(e)}


def statistics_json(state: AgentState, usage: Callable[[Executor], dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """Mesos's `/monitor/statistics`: one entry per running executor."""
    return [{"executor_id": e.executor_id, "executor_name": e.info.get("name", ""), "framework_id": framework_id,
             "source": e.info.get("source", ""), "statistics": resource_statistics(e, usage, now)}
            for framework_id, e in _running(state)]


def containers_json(state: AgentState, usage: Callable[[Executor], dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """The operator API's GET_CONTAINERS: the same executors as Mesos's Container messages."""
    return [{"framework_id": {"value": framework_id}, "executor_id": {"value": e.executor_id},
             "executor_name": e.info.get("name", ""), "container_id": {"value": e.container_id},
             "container_status": {"container_id": {"value": e.container_id}, "executor_pid": e.pid},
             "resource_statistics": resource_statistics(e, usage, now)}
            for framework_id, e in _running(state)]
