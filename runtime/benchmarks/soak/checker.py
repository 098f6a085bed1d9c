"""The soak's checker: Mesos's guarantees over a recorded history (pure: records in, verdict out).

A history is a list of records (dicts with `t`, wall-clock seconds, and `kind`):

- `launch`: a framework launched `task` (its `framework` kind and `incarnation`) on `agent_id`;
- `update`: the framework received a status update (`task`, `state`, `uuid` or None for a
  reconciliation answer, `reason`, `agent_id`);
- `offer`: the framework received an offer (`agent_id`);
- `fault`: the nemesis injected `fault` on `target` (an agent's `agent_ids`, when it is one) from
  `t` to `healed`;
- `observed`: the same shape, for what the poller saw happen, injected or not (an agent that
  reconnected to the same leader, a master in safe mode): it explains losses as a fault does, and
  is counted apart;
- `removed`: a framework incarnation outlived its failover_timeout: the master may kill its tasks;
- `leftover`: a task still on an agent (`agent`, `state`) once every framework has finished: it
  never ended (a task of a removed framework that is not left over ended with it);
- `run`: a task's command started (from the marker its command wrote), one per real run;
- `http`: an endpoint answered `status` (only 5xx answers are recorded);
- `leaderless` / `offerless`: the longest gaps the driver saw;
- `final_offers`: per agent id, the resources offered after the soak and the agent's total;
- `spark_submit` / `spark_state` / `spark_run`: a Spark application was submitted to the dispatcher,
  was seen in `state` (with its `retries`), and its driver started (one record per start).

`check` returns the violations, each with the records that show it.

A TASK_LOST the master sends on its own (no uuid) is provisional, as Mesos documents it (the
high-availability framework guide: such updates "are not delivered reliably", and a framework
"might see a TASK_LOST update for a task but then later discover that the task is running"):
the agent's own terminal update may follow it and is then the task's one terminal state.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED",
            "TASK_GONE", "TASK_GONE_BY_OPERATOR", "TASK_UNREACHABLE_TERMINAL"}
APPLICATION_FINAL = {"FINISHED", "FAILED", "KILLED"}
ENDED_WITH_FRAMEWORK = "(ended with its removed framework)"
# States a task may only reach when its agent (or, for DROPPED, the master) really went away.
AGENT_LOSS = {"TASK_LOST", "TASK_UNREACHABLE", "TASK_GONE", "TASK_GONE_BY_OPERATOR", "TASK_DROPPED"}
ORDER = {"TASK_STAGING": 0, "TASK_STARTING": 1, "TASK_RUNNING": 2, "TASK_UNREACHABLE": 2, "TASK_KILLING": 3}
# Seconds before a fault and after it healed during which its consequences may show (an agent's loss
# shows once the master's health checks or its re-registration timeout give up on it).
GRACE_BEFORE, GRACE_AFTER = 2.0, 15.0
# The agents' --status_update_retry_interval (1 s in the soak) and the load's delay on top: a copy that
# arrives within this of the first was sent before the acknowledgement could arrive.
RETRY_SLACK = 3.0
LOST_LAUNCH_REASONS = {"REASON_RECONCILIATION", "REASON_INVALID_OFFERS"}


@dataclass
class Violation:
    rule: str
    task: str | None
    detail: str
    excerpt: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Verdict:
    tasks: int
    terminal: dict[str, int]
    lost: int  # launched tasks with no terminal state (of frameworks that were not removed)
    duplicated: int  # tasks whose command ran more than once
    violations: list[Violation]
    faults: dict[str, int]
    superseded: int = 0  # provisional TASK_LOSTs that the agent's own terminal update followed
    applications: dict[str, int] = field(default_factory=dict)  # Spark applications by final state
    observed: dict[str, int] = field(default_factory=dict)  # what the poller saw go away with no fault injected

    def summary(self) -> str:
        """(Spark applications count as tasks here: each must end once, and its driver run once per attempt.)"""
        tasks = self.tasks + sum(self.applications.values())
        ended = sum(self.terminal.values()) + sum(n for state, n in self.applications.items() if state != "none")
        return (f"soak: {tasks} tasks, {ended} terminal, {self.lost} lost, {self.duplicated} duplicated, "
                f"{len(self.violations)} violations")


def check(history: list[dict[str, Any]]) -> Verdict:
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in history:
        by_kind[record["kind"]].append(record)
    launches = {r["task"]: r for r in by_kind["launch"]}
    updates: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in sorted(by_kind["update"], key=lambda r: r["t"]):
        updates[record["task"]].append(record)
    faults = by_kind["fault"] + by_kind["observed"]  # (the poller's observations explain as faults do; reported apart)
    removed = {(r["framework"], r["incarnation"]) for r in by_kind["removed"]}
    still_running = {r["task"]: r for r in by_kind["leftover"]}
    violations: list[Violation] = []
    terminal_counts: dict[str, int] = defaultdict(int)
    lost = 0
    superseded = 0
    for task, launch in sorted(launches.items()):
        seen = updates.get(task, [])
        violations += _order(task, seen)
        ends = {u["state"] for u in seen if u["state"] in TERMINAL and not _provisional(u)}
        if not ends:
            ends = {u["state"] for u in seen if _provisional(u)}
        elif any(_provisional(u) for u in seen):
            superseded += 1
        if len(ends) > 1:
            violations.append(Violation("one terminal state", task, f"reached {sorted(ends)}", seen))
        if ends:
            terminal_counts[min(ends)] += 1
        elif (launch["framework"], launch["incarnation"]) not in removed:
            lost += 1
            violations.append(Violation("every task ends", task, "no terminal state reached its framework", [launch] + seen))
        elif task in still_running:
            lost += 1
            violations.append(Violation("every task ends", task, "its framework was removed, and it still runs on "
                                        f"agent {still_running[task]['agent']}", [launch] + seen + [still_running[task]]))
        else:  # (no framework hears of it: the agents' states after the soak show it is not running)
            terminal_counts[ENDED_WITH_FRAMEWORK] += 1
        if (launch["framework"], launch["incarnation"]) not in removed:  # (the master ends those as it must)
            violations += _explained(task, launch, seen, faults)
    violations += _duplicate_deliveries(updates, faults)
    runs: dict[str, int] = defaultdict(int)
    for record in by_kind["run"]:
        runs[record["task"]] += 1
    duplicated = [t for t, n in runs.items() if n > 1]
    for task in duplicated:
        violations.append(Violation("no task runs twice", task, f"its command ran {runs[task]} times", updates.get(task, [])))
    for record in by_kind["http"]:
        # (a master that has just come back, or woken, and does not know the new leader yet answers 503
        # "No leading master is elected", as Mesos's masters do)
        if "No leading master is elected" in record.get("body", "") and _during(faults, (record["t"], record["t"])):
            continue
        violations.append(Violation("no 5xx", None, f"{record['url']} answered {record['status']}: "
                                    f"{record.get('body', '')[:200]}", [record]))
    for record in by_kind["final_offers"]:
        for agent_id, (offered, total) in sorted(record["agents"].items()):
            if offered != total:
                violations.append(Violation("resources return", None, f"agent {agent_id}: offered {offered}, total {total}", [record]))
    for task, record in sorted(still_running.items()):
        if task in launches and (launches[task]["framework"], launches[task]["incarnation"]) in removed:
            continue  # (counted above)
        violations.append(Violation("nothing left running", task, f"still {record['state']} on agent {record['agent']} "
                                    "after every framework finished", updates.get(task, []) + [record]))
    for record in by_kind["unhealthy"]:
        violations.append(Violation("restarted processes end healthy", None, record["what"], [record]))
    applications, app_violations = _applications(by_kind, faults)
    violations += app_violations
    lost += applications.get("none", 0)
    duplicated_apps = sum(1 for v in app_violations if v.rule == "no task runs twice")
    fault_counts: dict[str, int] = defaultdict(int)
    for fault in by_kind["fault"]:
        fault_counts[fault["fault"]] += 1
    observed: dict[str, int] = defaultdict(int)
    for record in by_kind["observed"]:
        observed[record["fault"]] += 1
    return Verdict(len(launches), dict(terminal_counts), lost, len(duplicated) + duplicated_apps, violations,
                   dict(fault_counts), superseded, applications, dict(observed))


def _applications(by_kind: dict[str, list[dict[str, Any]]], faults: list[dict[str, Any]]) -> tuple[dict[str, int], list[Violation]]:
    """Each Spark application ends once, FINISHED unless a fault explains it, its driver started at most
    once per attempt (a supervised driver is retried after a failure). Final states by count ("none": never ended)."""
    counts: dict[str, int] = defaultdict(int)
    out = []
    states: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in sorted(by_kind["spark_state"], key=lambda r: r["t"]):
        states[record["submission"]].append(record)
    runs: dict[str, int] = defaultdict(int)
    for record in by_kind["spark_run"]:
        runs[record["submission"]] += 1
    for submit in by_kind["spark_submit"]:
        app = submit["submission"]
        seen = states.get(app, [])
        finals = [r for r in seen if r["state"] in APPLICATION_FINAL]
        if not finals:
            counts["none"] += 1
            out.append(Violation("every task ends", app, "the Spark application never reached a final state", [submit] + seen))
            continue
        end = finals[0]
        counts[end["state"]] += 1
        later = [r for r in seen if r["t"] > end["t"] and r["state"] != end["state"]]
        if later:
            out.append(Violation("one terminal state", app, f"{later[0]['state']} after {end['state']}", seen))
        if end["state"] != "FINISHED" and not _during(faults, (submit["t"], end["t"])):
            out.append(Violation("nothing killed by a failover", app, f"{end['state']} with no fault: {end.get('reason', '')}", seen))
        attempts = 1 + max(r.get("retries", 0) for r in seen)
        if runs[app] > attempts:
            out.append(Violation("no task runs twice", app, f"its driver ran {runs[app]} times in {attempts} attempts", seen))
    return dict(counts), out


def _provisional(update: dict[str, Any]) -> bool:
    return update["state"] == "TASK_LOST" and update.get("uuid") is None and update.get("source") == "SOURCE_MASTER"


def _order(task: str, seen: list[dict[str, Any]]) -> list[Violation]:
    """Updates of a task arrive in order: never back to an earlier state, nothing new after a terminal one
    (after a provisional TASK_LOST, the agent's own updates may still come).

    A reconciliation answer stands outside that stream: the master answers with the task's latest
    state (Mesos's master keeps the `latest_state` its agent reported), so the stream may still
    redeliver an unacknowledged TASK_RUNNING after the answer said TASK_FINISHED. An answer must
    not be behind a terminal state the stream has already delivered."""
    out = []
    highest, ended = -1, None
    for i, update in enumerate(seen):
        state = update["state"]
        if _reconciliation(update):
            if ended is not None and not _provisional(ended) and state not in TERMINAL:
                out.append(Violation("reconciliation reports the latest state", task,
                                     f"{state} after {ended['state']}", seen[: i + 1]))
                break
            continue
        if ended is not None and _provisional(ended) and not _provisional(update):
            if state in TERMINAL:
                ended = update
            continue
        if ended is not None and state != ended["state"]:
            out.append(Violation("updates in order", task, f"{state} after {ended['state']}", seen[: i + 1]))
            break
        if state in TERMINAL:
            ended = update
            continue
        rank = ORDER.get(state, 0)
        if rank < highest and update.get("uuid") is not None:
            out.append(Violation("updates in order", task, f"{state} after a later state", seen[: i + 1]))
            break
        highest = max(highest, rank)
    return out


def _reconciliation(update: dict[str, Any]) -> bool:
    return update.get("uuid") is None and update.get("reason") == "REASON_RECONCILIATION"


def _explained(task: str, launch: dict[str, Any], seen: list[dict[str, Any]], faults: list[dict[str, Any]]) -> list[Violation]:
    """A task ends FINISHED unless a fault explains it: loss only where its agent went away (DROPPED also
    where the master did), and nothing is killed or fails without one."""
    out = []
    own_end = any(u["state"] in TERMINAL and not _provisional(u) for u in seen)
    for update in seen:
        state = update["state"]
        if state in ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED", "TASK_KILLING"):
            continue
        if own_end and _provisional(update):  # (the master's answer about a task it no longer holds; the
            continue  # agent's own terminal update is the task's end)
        window = (launch["t"], update["t"])
        agent_faults = [f for f in _during(faults, window) if launch["agent_id"] in f.get("agent_ids", ())]
        master_faults = [f for f in _during(faults, window) if f["fault"].startswith(("kill_leader", "pause_leader", "zk_", "leader_changed"))]
        if state in AGENT_LOSS or state in ("TASK_FAILED", "TASK_KILLED"):  # (an agent restart kills the
            # tasks of frameworks that do not checkpoint)
            # (a launch lost with its master: reconciled, or on offers rescinded as the master went into safe mode or away)
            lost_launch = state == "TASK_DROPPED" or (state == "TASK_LOST" and update.get("reason") in LOST_LAUNCH_REASONS)
            if agent_faults or (lost_launch and master_faults):  # (a launch lost with a deposed leader)
                continue
            out.append(Violation("loss only where an agent went away", task,
                                 f"{state} ({update.get('reason')}) with no fault of its agent {launch['agent_id']}",
                                 [launch] + seen))
        else:
            out.append(Violation("nothing killed by a failover", task, f"{state} ({update.get('reason')}: "
                                 f"{update.get('message', '')})", [launch] + seen + _during(faults, window)))
        break
    return out


def _duplicate_deliveries(updates: dict[str, list[dict[str, Any]]], faults: list[dict[str, Any]]) -> list[Violation]:
    """An update is delivered again only when a fault may have lost its acknowledgement, or before the
    acknowledgement of its first delivery could reach the agent (the agent sends it again after its
    retry interval; a copy already on its way arrives all the same: delivery is at least once)."""
    out = []
    for task, seen in updates.items():
        first: dict[str, dict[str, Any]] = {}
        for update in seen:
            uid = update.get("uuid")
            if uid is None:
                continue
            if (uid in first and update["t"] - first[uid]["t"] > RETRY_SLACK
                    and not _during(faults, (first[uid]["t"], update["t"]))):
                out.append(Violation("acknowledged once", task, f"update {update['state']} {uid} delivered again "
                                     f"{update['t'] - first[uid]['t']:.1f} s later with no fault between", [first[uid], update]))
                break
            first.setdefault(uid, update)
    return out


def _during(faults: Iterable[dict[str, Any]], window: tuple[float, float]) -> list[dict[str, Any]]:
    begin, end = window
    return [f for f in faults if f["t"] - GRACE_BEFORE <= end and f.get("healed", f["t"]) + GRACE_AFTER >= begin]
