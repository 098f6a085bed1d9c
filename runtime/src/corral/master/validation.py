"""Launch validation, as Mesos's master does it (src/master/validation.cpp).

Every function returns an error message (which becomes the TASK_ERROR's
message) or None.  Nothing here raises on bad input: a bad launch must never
take the master down.
"""

from __future__ import annotations

from typing import Any

from corral.ids import validate_id, value_of
from corral.resources import ResourceError, Resources


def task_resources(task: dict[str, Any], where: str = "task.resources") -> tuple[Resources | None, str | None]:
    try:
        return Resources.from_json(task.get("resources", []), where), None
    except ResourceError as exc:
        return None, str(exc)


def validate_allocation_roles(resources: list[Any], role: str, where: str) -> str | None:
    for i, res in enumerate(resources):
        if not isinstance(res, dict):
            continue
        allocation = res.get("allocation_info")
        if isinstance(allocation, dict) and allocation.get("role") not in (None, role):
            return f"{where}[{i}].allocation_info.role '{allocation.get('role')}' does not match the offer's role '{role}'"
    return None


def validate_executor_info(executor: Any, framework_id: str, where: str = "executor") -> str | None:
    if not isinstance(executor, dict):
        return f"{where} must be an object"
    err = validate_id(value_of(executor.get("executor_id")), f"{where}.executor_id")
    if err:
        return err
    fid = value_of(executor.get("framework_id"))
    if fid is not None and fid != framework_id:
        return f"{where}.framework_id '{fid}' does not match the framework '{framework_id}'"
    etype = executor.get("type", "CUSTOM" if executor.get("command") else "DEFAULT")
    if etype not in ("CUSTOM", "DEFAULT"):
        return f"{where}.type must be CUSTOM or DEFAULT (got {etype!r})"
    if etype == "CUSTOM" and not isinstance(executor.get("command"), dict):
        return f"{where}.command is required for a CUSTOM executor"
    if etype == "DEFAULT" and executor.get("command"):
        return f"{where}.command must not be set for a DEFAULT executor"
    if "command" in executor:
        err = validate_command(executor["command"], f"{where}.command")
        if err:
            return err
    _, err = task_resources(executor, f"{where}.resources")
    return err


def validate_command(command: Any, where: str) -> str | None:
    if not isinstance(command, dict):
        return f"{where} must be an object"
    shell = command.get("shell", True)
    if not isinstance(shell, bool):
        return f"{where}.shell must be a boolean"
    value = command.get("value")
    if value is not None and not isinstance(value, str):
        return f"{where}.value must be a string"
    arguments = command.get("arguments", [])
    if not isinstance(arguments, list) or not all(isinstance(a, str) for a in arguments):
        return f"{where}.arguments must be a list of strings"
    if shell and not value:
        return f"{where}.value is required when shell is true"
    if not shell and not value and not arguments:
        return f"{where}: value (the program) or arguments are required when shell is false"
    env = command.get("environment")
    if env is not None:
        variables = env.get("variables") if isinstance(env, dict) else None
        if not isinstance(variables, list):
            return f"{where}.environment.variables must be a list"
        for i, var in enumerate(variables):
            if not isinstance(var, dict) or not isinstance(var.get("name"), str):
                return f"{where}.environment.variables[{i}].name must be a string"
    user = command.get("user")
    if user is not None and not isinstance(user, str):
        return f"{where}.user must be a string"
    return None


def validate_task(
    task: Any,
    *,
    framework_id: str,
    agent_id: str,
    active_task_ids: set[str] | dict[str, Any],
    in_group: bool = False,
) -> str | None:
    """Checks that need no resource accounting (that is done by the caller)."""
    if not isinstance(task, dict):
        return "task must be an object"
    task_id = value_of(task.get("task_id"))
    err = validate_id(task_id, "task_id")
    if err:
        return err
    if task_id in active_task_ids:
        return f"Task has duplicate ID: {task_id}"
    if not isinstance(task.get("name"), str):
        return "task.name is required (a string)"
    task_agent = value_of(task.get("agent_id")) or value_of(task.get("slave_id"))
    if task_agent is None:
        return "task.agent_id is required"
    if task_agent != agent_id:
        return f"Task uses agent {task_agent} but the offers are from agent {agent_id}"
    has_executor, has_command = "executor" in task, "command" in task
    if in_group:
        if has_executor:
            return "a task in a task group must not set 'executor' (the group's executor runs it)"
        if not has_command:
            return "a task in a task group needs 'command'"
    elif has_executor == has_command:
        return "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
    if has_command:
        err = validate_command(task["command"], "task.command")
        if err:
            return err
    if has_executor:
        err = validate_executor_info(task["executor"], framework_id, "task.executor")
        if err:
            return err
    resources, err = task_resources(task)
    if err:
        return err
    assert resources is not None
    if resources.is_empty() and not has_executor:
        return "Task uses no resources"
    policy = task.get("kill_policy")
    if policy is not None:
        grace = (policy.get("grace_period") or {}).get("nanoseconds") if isinstance(policy, dict) else None
        if grace is not None and (not isinstance(grace, int) or grace < 0):
            return "task.kill_policy.grace_period.nanoseconds must be a non-negative integer"
    data = task.get("data")
    if data is not None and not isinstance(data, str):
        return "task.data must be a base64 string"
    return None
