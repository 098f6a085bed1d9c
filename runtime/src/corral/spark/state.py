"""The dispatcher's state machine: the queue, launches, retries and fine-grained scaling.

Pure: no sockets, no event loop, an injected clock.  The daemon feeds it
stimuli (submissions, kills, offers, status updates, launcher reports,
observations of the Spark master and driver, clock ticks) and carries out what
comes back: task launches and declines from `offers()`, kills from
`take_kills()`, and submissions to persist from `take_dirty()`.

Per application (one *attempt* of it), the tasks are a Spark master, the
driver and workers; an attempt ends when its driver task ends (or its master
dies, or it fails to start in time), and all its remaining tasks are killed.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from corral.spark import model
from corral.spark.constraints import describe_attributes, format_constraints, matches
from corral.spark.model import (ACTIVE, DRIVER, FAILED, FINISHED, KILLED, LAUNCHING, MASTER, QUEUED,
                                RETRYING, RUNNING, WAITING, WORKER, Submission, TaskRecord)
from corral.spark.planner import (OfferSlot, Sizes, WorkerPlan, place_fixed, plan_workers, worker_reason)
from corral.spark.protocol import CreateSubmission, ProtocolError
from corral.spark.sparkconf import COARSE, FINE, AppSpec, SparkConfError, app_spec, driver_properties
from corral.spark.tasks import LauncherConfig, driver_command, master_command, task_info, worker_command

logger = logging.getLogger(__name__)

KILL_RESEND_SECONDS = 10.0
OFFERS_STALE_SECONDS = 5.0  # no offers for this long: explain waiting apps from the known agents
KEPT_ATTEMPTS = 5  # tasks of this many past attempts stay on record (for their logs)
# Task states after which a supervised driver is relaunched (as Spark's Mesos dispatcher did).
# A worker that ended for one of these ends its attempt: the next worker would fail the same way.
WORKER_LAUNCH_FAILURES = frozenset({"REASON_CONTAINER_LAUNCH_FAILED"})
RELAUNCH_STATES = frozenset({"TASK_FAILED", "TASK_LOST", "TASK_GONE", "TASK_DROPPED", "TASK_UNKNOWN"})


class SubmissionError(ValueError):
    """A submission the dispatcher refuses; the message says why."""


class UnknownSubmission(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class AttemptGone(LookupError):
    """A launcher asked about an attempt that has ended."""


@dataclass
class DispatcherOptions:
    roles: tuple[str, ...] = ("*",)  # the framework's roles; the first is the default app role
    default_mode: str = COARSE
    max_drivers: int = 0  # concurrent applications (LAUNCHING or RUNNING); 0: no limit
    queue_capacity: int = 200  # applications waiting or active
    retained: int = 200  # finished applications kept for status and the web page
    retry_wait_max: float = 60.0  # backoff cap of supervised retries (seconds)
    max_retries: int = 0  # supervised retries per application; 0: unlimited
    launch_timeout: float = 180.0  # an attempt whose master or driver is not up by then fails
    fine_idle_timeout: float = 60.0  # Spark's executor idle timeout in fine-grained mode (seconds; Spark's default)
    worker_idle_timeout: float = 2.0  # fine: an executor-less one-core worker is released after this
    refuse_seconds: float = 10.0  # filter on offers declined while nothing waits
    sizes: Sizes = field(default_factory=Sizes)


class DispatcherState:
    def __init__(self, options: DispatcherOptions, launcher: LauncherConfig, clock: Callable[[], float] = time.time) -> None:
        self.options = options
        self.launcher = launcher
        self.clock = clock
        self.submissions: dict[str, Submission] = {}
        self.seq = 0
        self.known_agents: dict[str, list[dict[str, Any]]] = {}  # agent id → attributes (offers, the master)
        self.last_offers_at: float | None = None
        self._dirty: set[str] = set()
        self._forgotten: set[str] = set()
        self._kills: list[tuple[str, str]] = []
        self._specs: dict[str, AppSpec] = {}

    # -- recovery -------------------------------------------------------------------

    def recover(self, submissions: Iterable[Submission], seq: int = 0) -> None:
        """Load the persisted queue (after a dispatcher restart)."""
        for sub in sorted(submissions, key=lambda s: s.submitted_at):
            self.submissions[sub.id] = sub
            self.seq = max(self.seq, _seq_of(sub.id))
            try:
                self.spec(sub)
            except SparkConfError as exc:
                if not sub.final:
                    sub.state, sub.reason, sub.finished_at = FAILED, f"cannot be recovered: {exc}", self.clock()
                    for task in sub.live_tasks():
                        self._kill(task)
                    self._touch(sub)
        self.seq = max(self.seq, seq)

    def reconcile_list(self) -> list[tuple[str, str]]:
        """(task id, agent id) of every task not known to be terminal: ask the master about them."""
        return [(t.task_id, t.agent_id) for s in self.submissions.values() for t in s.live_tasks()]

    # -- requests ---------------------------------------------------------------------

    def spec(self, sub: Submission) -> AppSpec:
        spec = self._specs.get(sub.id)
        if spec is None:
            spec = self._specs[sub.id] = app_spec(
                sub.request.spark_properties, default_mode=self.options.default_mode, default_role=self.options.roles[0],
                default_worker_idle_timeout=self.options.worker_idle_timeout,
            )
        return spec

    def submit(self, request: CreateSubmission) -> Submission:
        try:
            request.application  # noqa: B018 - validates resource/main class
            spec = app_spec(request.spark_properties, default_mode=self.options.default_mode,
                            default_role=self.options.roles[0], default_worker_idle_timeout=self.options.worker_idle_timeout)
        except (SparkConfError, ProtocolError) as exc:
            raise SubmissionError(str(exc)) from None
        if spec.role not in self.options.roles:
            raise SubmissionError(
                f"spark.mesos.role: role '{spec.role}' is not served by this dispatcher (its roles: {', '.join(self.options.roles)})"
            )
        open_count = sum(1 for s in self.submissions.values() if not s.final)
        if open_count >= self.options.queue_capacity:
            raise SubmissionError(f"the queue is full ({open_count} applications waiting or running; --queue_capacity)")
        now = self.clock()
        self.seq += 1
        sid = "driver-%s-%04d" % (datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%d%H%M%S"), self.seq)
        # Pin the resolved mode and role so that the queue means the same after a restart with other defaults.
        properties = dict(request.spark_properties)
        properties["spark.corral.mode"] = spec.mode
        properties["spark.corral.role"] = spec.role
        request = CreateSubmission(request.app_resource, request.main_class, request.app_args, properties,
                                   request.environment, request.client_spark_version, request.unknown_fields)
        sub = Submission(id=sid, request=request, submitted_at=now)
        self.submissions[sid] = sub
        self._specs[sid] = spec
        sub.reason = self._reason_without_offers(sub) if self.known_agents else "waiting for resource offers"
        self._touch(sub)
        logger.info("Queued %s (%s, %s mode, role %s)", sid, spec.name, spec.mode, spec.role)
        return sub

    def get(self, submission_id: str) -> Submission:
        sub = self.submissions.get(submission_id)
        if sub is None:
            raise UnknownSubmission(f"no submission '{submission_id}' (this dispatcher knows {len(self.submissions)})")
        return sub

    def kill(self, submission_id: str) -> tuple[bool, str]:
        sub = self.get(submission_id)
        now = self.clock()
        if sub.final:
            return False, f"Driver already terminated ({sub.state})"
        if sub.state in WAITING:
            was = sub.state
            sub.state, sub.reason, sub.finished_at, sub.kill_requested = KILLED, f"killed while {was}", now, True
            self._touch(sub)
            self._trim()
            return True, f"Removed driver while it was {was.lower()}"
        sub.kill_requested = True
        sub.reason = "killing: waiting for its tasks to end"
        for task in sub.live_tasks():
            self._kill(task)
        self._touch(sub)
        return True, "Killing running driver"

    def kill_all(self) -> int:
        count = 0
        for sub in list(self.submissions.values()):
            if not sub.final:
                self.kill(sub.id)
                count += 1
        return count

    def set_agents(self, agents: Mapping[str, list[dict[str, Any]]]) -> None:
        """The cluster's agents and their attributes (from the master), for reasons when no offer comes."""
        self.known_agents = {k: list(v) for k, v in agents.items()}

    def _set_reason(self, sub: Submission, reason: str) -> None:
        if sub.reason != reason:
            sub.reason = reason
            self._touch(sub)

    def _unmatched_constraints(self, sub: Submission) -> str | None:
        """Why no known agent can ever run this app, if its constraints match none of them."""
        spec = self.spec(sub)
        agents = self.known_agents
        for constraints, key in ((spec.driver_constraints, "spark.mesos.driver.constraints"),
                                 (spec.constraints, "spark.mesos.constraints")):
            if constraints and agents and not any(matches(constraints, a) for a in agents.values()):
                seen = "; ".join(sorted({describe_attributes(a) for a in agents.values()}))
                return (f"no agent matches {key} '{format_constraints(constraints)}' "
                        f"({len(agents)} agent(s) seen: {seen})")
        return None

    def _reason_without_offers(self, sub: Submission) -> str:
        unmatched = self._unmatched_constraints(sub)
        if unmatched:
            return unmatched
        if not self.known_agents:
            return "waiting for resource offers"
        return "waiting for resource offers (the resources of the matching agents are in use)"

    # -- offers -----------------------------------------------------------------------

    def offers(self, offers: list[dict[str, Any]]) -> tuple[list[tuple[str, list[dict[str, Any]]]], list[str]]:
        """Match offers: returns ([(offer id, [TaskInfo])], [offer ids to decline])."""
        slots = [OfferSlot.from_offer(o) for o in offers]
        for slot in slots:
            self.known_agents[slot.agent_id] = slot.attributes
        launches: dict[str, list[dict[str, Any]]] = {}
        now = self.clock()
        self.last_offers_at = now

        # 1. New applications first (FIFO), so that a greedy coarse app does not starve the queue of drivers.
        active = sum(1 for s in self.submissions.values() if s.state in ACTIVE)
        for sub in self._waiting(now):
            if self.options.max_drivers and active >= self.options.max_drivers:
                self._set_reason(sub, f"waiting for a driver slot: {active} of {self.options.max_drivers} concurrent "
                                      "drivers are running (--max_drivers)")
                continue
            if self._try_launch(sub, slots, launches, now):
                active += 1

        # 2. Workers for applications already running.
        for sub in list(self.submissions.values()):
            if sub.state not in ACTIVE or sub.kill_requested:
                continue
            spec = self.spec(sub)
            workers = sub.current(WORKER)
            cores_left = _cores_left(spec, workers)
            if spec.mode == COARSE:
                plans = plan_workers(slots, spec, self.options.sizes, None, cores_left, {w.agent_id for w in workers})
            else:
                need = max(0, sub.wanted_workers - len(workers))
                plans = plan_workers(slots, spec, self.options.sizes, need, cores_left, set()) if need else []
            for plan in plans:
                self._add_worker(sub, plan, launches, now)

        declines = [s.offer_id for s in slots if s.offer_id not in launches]
        return list(launches.items()), declines

    def _waiting(self, now: float) -> list[Submission]:
        out = []
        for sub in self.submissions.values():
            if sub.state == QUEUED or (sub.state == RETRYING and (sub.next_retry_at or 0) <= now):
                out.append(sub)
        return sorted(out, key=lambda s: s.submitted_at)

    def _try_launch(self, sub: Submission, slots: list[OfferSlot], launches: dict[str, list[dict[str, Any]]], now: float) -> bool:
        """Place master, driver and the first workers together, or leave the app waiting with a reason."""
        spec = self.spec(sub)
        unmatched = self._unmatched_constraints(sub)
        if unmatched:
            self._set_reason(sub, unmatched)
            return False
        trial = [_copy_slot(s) for s in slots]
        sizes = self.options.sizes
        master = place_fixed(trial, spec, "Spark master", sizes.master_cpus, sizes.master_mem, spec.driver_constraints,
                             "spark.mesos.driver.constraints")
        if not master.ok:
            self._set_reason(sub, master.reason)
            return False
        assert master.slot is not None
        master_res = master.slot.take(sizes.master_cpus, sizes.master_mem)
        driver = place_fixed(trial, spec, "driver", spec.driver_cpus, spec.driver_task_mem, spec.driver_constraints,
                             "spark.mesos.driver.constraints")
        if not driver.ok:
            self._set_reason(sub, driver.reason)
            return False
        assert driver.slot is not None
        driver_res = driver.slot.take(spec.driver_cpus, spec.driver_task_mem)
        # At least one worker must be placeable now: an app is not started on a cluster that cannot run it.
        if spec.mode == COARSE:
            workers = plan_workers(trial, spec, sizes, None, _cores_left(spec, []), set())
            placeable = bool(workers)
        else:
            placeable = bool(plan_workers([_copy_slot(s) for s in trial], spec, sizes, 1, _cores_left(spec, []), set()))
            workers = plan_workers(trial, spec, sizes, spec.initial_workers, _cores_left(spec, []), set()) if placeable else []
        if not placeable:
            self._set_reason(sub, worker_reason(trial, spec, sizes, self.known_agents))
            return False

        # Commit: the trial slots become the real ones.
        for real, tried in zip(slots, trial):
            real.remaining, real.used = tried.remaining, tried.used
        sub.attempt += 1
        sub.state = LAUNCHING
        sub.started_at = now
        sub.reason = "starting the Spark master"
        sub.wanted_workers = spec.initial_workers
        sub.app_id = None
        self._add_task(sub, MASTER, master.slot, master_res, 0, launches, now)
        self._add_task(sub, DRIVER, driver.slot, driver_res, 0, launches, now)
        for plan in workers:
            self._add_worker(sub, plan, launches, now)
        logger.info("Launching %s attempt %d: master on %s, driver on %s, %d worker(s)", sub.id, sub.attempt,
                    master.slot.host, driver.slot.host, len(workers))
        self._touch(sub)
        return True

    def _add_worker(self, sub: Submission, plan: WorkerPlan, launches: dict[str, list[dict[str, Any]]], now: float) -> None:
        assert plan.resources is not None
        self._add_task(sub, WORKER, plan.slot, plan.resources, plan.cores, launches, now, spark_memory=plan.spark_memory_mb)

    def _add_task(self, sub: Submission, kind: str, slot: OfferSlot, resources: Any, cores: int,
                  launches: dict[str, list[dict[str, Any]]], now: float, spark_memory: int = 0) -> None:
        if kind == WORKER:
            sub.worker_seq += 1
            name = f"worker-{sub.worker_seq}"
        else:
            name = kind
        rec = TaskRecord(
            task_id=model.task_id(sub.id, sub.attempt, name), kind=kind, attempt=sub.attempt, agent_id=slot.agent_id,
            host=slot.host, agent_address=slot.agent_address, cpus=resources.scalar("cpus"),
            mem=resources.scalar("mem"), cores=cores, launched_at=now,
        )
        container = None
        if kind == MASTER:
            command = master_command(self.launcher, rec, sub)
        elif kind == WORKER:
            spec = self.spec(sub)
            command = worker_command(self.launcher, rec, sub, spark_memory, spec)
            container = spec.executor_image.container_info() if spec.executor_image is not None else None
        else:
            spec = self.spec(sub)
            conf = driver_properties(sub.request.spark_properties, spec, self.options.fine_idle_timeout,
                                     sub.request.app_resource)
            command = driver_command(self.launcher, rec, sub, sub.request.application, conf, spec.driver_memory_mb)
        sub.tasks[rec.task_id] = rec
        launches.setdefault(slot.offer_id, []).append(task_info(rec, sub, resources, slot.role, command, container))
        self._touch(sub)

    # -- status updates ------------------------------------------------------------------

    def update(self, status: Mapping[str, Any]) -> None:
        tid = status["task_id"]["value"]
        state = status["state"]
        message = status.get("message") or ""
        parsed = model.parse_task_id(tid)
        sub = self.submissions.get(parsed[0]) if parsed else None
        rec = sub.tasks.get(tid) if sub else None
        if sub is None or rec is None:
            if state not in model.TERMINAL_TASK_STATES:
                agent = (status.get("agent_id") or {}).get("value", "")
                logger.warning("Killing unknown task %s (state %s)", tid, state)
                self._kills.append((tid, agent))
            return
        if rec.terminal and state not in model.TERMINAL_TASK_STATES:
            return  # a late update after a terminal one
        changed = rec.state != state
        rec.state, rec.message = state, message or rec.message
        if changed:
            self._touch(sub)
        if rec.attempt != sub.attempt or sub.state not in ACTIVE:
            return  # (an attempt that has ended, retrying or final, ends once: its other tasks' ends change nothing)
        if rec.kind == DRIVER:
            if state == "TASK_RUNNING":
                self._maybe_running(sub)
            elif rec.terminal:
                self._driver_ended(sub, rec)
        elif rec.kind == MASTER and rec.terminal and sub.state in ACTIVE:
            self._end_attempt(sub, failed=True, relaunchable=True,
                              message=f"the Spark master task ended ({state}{': ' + message if message else ''})")
        elif rec.kind == WORKER and rec.terminal and status.get("reason") in WORKER_LAUNCH_FAILURES:
            # (a missing image, a container the agent cannot create: every worker would fail the same way)
            self._end_attempt(sub, failed=True, message=f"a Spark worker could not be started ({state}: {message})")
        elif rec.kind == WORKER and rec.terminal:
            logger.info("%s: worker %s ended (%s)", sub.id, tid, state)

    def _driver_ended(self, sub: Submission, rec: TaskRecord) -> None:
        detail = f"{rec.state}{': ' + rec.message if rec.message else ''}"
        if sub.kill_requested:
            self._end_attempt(sub, failed=False, message=f"killed ({detail})", final_state=KILLED)
        elif rec.state == "TASK_FINISHED":
            self._end_attempt(sub, failed=False, message=f"driver finished ({detail})", final_state=FINISHED)
        else:
            self._end_attempt(sub, failed=True, relaunchable=rec.state in RELAUNCH_STATES, message=f"driver failed ({detail})")

    def _end_attempt(self, sub: Submission, failed: bool, message: str, relaunchable: bool = False,
                     final_state: str = FAILED) -> None:
        now = self.clock()
        for task in sub.live_tasks():
            self._kill(task)
        spec = self.spec(sub)
        retries_left = not self.options.max_retries or sub.retries < self.options.max_retries
        if failed and spec.supervise and relaunchable and retries_left and not sub.kill_requested:
            sub.retries += 1
            sub.retry_wait = 1.0 if sub.retry_wait <= 0 else min(self.options.retry_wait_max, sub.retry_wait * 2)
            sub.next_retry_at = now + sub.retry_wait
            sub.last_failure = message
            sub.state = RETRYING
            sub.reason = f"retry {sub.retries} in {sub.retry_wait:g}s after: {message}"
            for old in [t for t in sub.tasks.values() if t.terminal and t.attempt <= sub.attempt - KEPT_ATTEMPTS]:
                del sub.tasks[old.task_id]  # keep the queue's record small
            logger.info("%s: %s; retry %d in %gs", sub.id, message, sub.retries, sub.retry_wait)
        else:
            sub.state = final_state if not failed else FAILED
            if sub.kill_requested:
                sub.state = KILLED
            sub.reason = message
            sub.finished_at = now
            if failed:
                sub.last_failure = message
            logger.info("%s: %s → %s", sub.id, message, sub.state)
            self._trim()
        sub.wanted_workers = 0
        self._touch(sub)

    # -- launcher reports --------------------------------------------------------------------

    def task_report(self, task_id: str, info: Mapping[str, Any]) -> Submission:
        parsed = model.parse_task_id(task_id)
        sub = self.submissions.get(parsed[0]) if parsed else None
        rec = sub.tasks.get(task_id) if sub else None
        if sub is None or rec is None:
            raise UnknownSubmission(f"no task '{task_id}'")
        if rec.attempt != sub.attempt or sub.final:
            raise AttemptGone(f"task '{task_id}' belongs to an attempt that has ended")
        rec.info.update({k: v for k, v in info.items() if isinstance(k, str)})
        if rec.kind == MASTER and info.get("spark_url") and sub.state == LAUNCHING:
            sub.reason = "starting the driver"
        if rec.kind == DRIVER:
            self._maybe_running(sub)
        self._touch(sub)
        return sub

    def _maybe_running(self, sub: Submission) -> None:
        """RUNNING once the driver task runs and its launcher started spark-submit (the master is up)."""
        driver = sub.task(DRIVER)
        if sub.state == LAUNCHING and driver is not None and driver.state == "TASK_RUNNING" and driver.info.get("ui_url"):
            sub.state = RUNNING
            sub.reason = ""
            self._touch(sub)

    def master_of(self, submission_id: str, attempt: int) -> dict[str, Any] | None:
        """The Spark master of an attempt, once it reported (None: not yet); AttemptGone when over."""
        sub = self.get(submission_id)
        if attempt != sub.attempt or sub.final or sub.kill_requested:
            raise AttemptGone(f"attempt {attempt} of '{submission_id}' has ended")
        master = sub.task(MASTER)
        if master is None or master.terminal or not master.info.get("spark_url"):
            return None
        return {"spark_url": master.info["spark_url"], "webui_url": master.info.get("webui_url")}

    # -- observations of Spark (master /json/, driver metrics) ---------------------------------

    def observe(self, submission_id: str, master_json: Mapping[str, Any] | None, metrics: Mapping[str, Any] | None) -> None:
        sub = self.submissions.get(submission_id)
        if sub is None or sub.state not in ACTIVE:
            return
        now = self.clock()
        spec = self.spec(sub)
        workers = sub.current(WORKER)
        if master_json:
            apps = list(master_json.get("activeapps") or []) + list(master_json.get("completedapps") or [])
            if apps and sub.app_id != apps[0].get("id"):
                sub.app_id = apps[0].get("id")
                self._touch(sub)
            by_address = {(w.get("host"), w.get("port")): w for w in master_json.get("workers") or [] if w.get("state") == "ALIVE"}
            for rec in workers:
                seen = by_address.get((rec.info.get("host", rec.host), rec.info.get("port")))
                if seen is None:
                    continue
                if seen.get("coresused", 0) == 0:
                    rec.idle_since = rec.idle_since or now
                else:
                    rec.idle_since = None
        if spec.mode != FINE:
            return
        if metrics is not None:
            target = _gauge(metrics, "numberTargetExecutors")
            if target is not None:
                wanted = int(target)
                if spec.cores_max is not None:
                    wanted = min(wanted, spec.cores_max)
                if wanted != sub.wanted_workers:
                    logger.info("%s: the application asks for %d executor(s) (holding %d worker(s))", sub.id, wanted, len(workers))
                sub.wanted_workers = wanted
        excess = len(workers) - sub.wanted_workers
        for rec in sorted((w for w in workers if w.idle_since is not None), key=lambda w: w.idle_since or 0):
            if excess <= 0:
                break
            if now - (rec.idle_since or now) >= spec.worker_idle_timeout and not rec.kill_sent_at:
                logger.info("%s: releasing idle worker %s", sub.id, rec.task_id)
                self._kill(rec)
                excess -= 1

    # -- timers ---------------------------------------------------------------------------------

    def tick(self) -> None:
        now = self.clock()
        offers_stale = self.last_offers_at is None or now - self.last_offers_at > OFFERS_STALE_SECONDS
        for sub in list(self.submissions.values()):
            if sub.state == QUEUED and offers_stale:
                self._set_reason(sub, self._reason_without_offers(sub))
            elif sub.state == RETRYING and sub.next_retry_at is not None:
                wait = sub.next_retry_at - now
                if wait > 0:
                    sub.reason = f"retry {sub.retries} in {math.ceil(wait):g}s after: {sub.last_failure}"
            elif sub.state == LAUNCHING and sub.started_at is not None and now - sub.started_at > self.options.launch_timeout:
                master = sub.task(MASTER)
                what = "the Spark master" if master is None or not master.info.get("spark_url") else "the driver"
                self._end_attempt(sub, failed=True, relaunchable=True,
                                  message=f"{what} did not start within {self.options.launch_timeout:g}s")
            for task in sub.live_tasks():
                if task.kill_sent_at and now - task.kill_sent_at > KILL_RESEND_SECONDS:
                    self._kill(task)
            if sub.kill_requested and sub.state in ACTIVE and not sub.live_tasks():
                self._end_attempt(sub, failed=False, message="killed", final_state=KILLED)
        self._trim()

    # -- what the shell needs to know ---------------------------------------------------------

    def wants_offers(self) -> bool:
        now = self.clock()
        if self._waiting(now):
            return True
        for sub in self.submissions.values():
            if sub.state not in ACTIVE or sub.kill_requested:
                continue
            spec = self.spec(sub)
            workers = sub.current(WORKER)
            if _cores_left(spec, workers) < spec.min_worker_cores:
                continue
            if spec.mode == FINE:
                if sub.wanted_workers > len(workers):
                    return True
            else:
                held = {w.agent_id for w in workers}
                candidates = [a for a, attrs in self.known_agents.items() if a not in held and matches(spec.constraints, attrs)]
                if candidates or not self.known_agents:
                    return True
        return False

    def take_kills(self) -> list[tuple[str, str]]:
        kills, self._kills = self._kills, []
        return kills

    def take_dirty(self) -> tuple[list[Submission], list[str]]:
        dirty = [self.submissions[s] for s in sorted(self._dirty) if s in self.submissions]
        forgotten = sorted(self._forgotten)
        self._dirty.clear()
        self._forgotten.clear()
        return dirty, forgotten

    def active(self) -> list[Submission]:
        return [s for s in self.submissions.values() if s.state in ACTIVE]

    # -- helpers ------------------------------------------------------------------------------

    def _kill(self, task: TaskRecord) -> None:
        if task.terminal:
            return
        task.kill_sent_at = self.clock()
        self._kills.append((task.task_id, task.agent_id))

    def _touch(self, sub: Submission) -> None:
        self._dirty.add(sub.id)

    def _trim(self) -> None:
        final = [s for s in self.submissions.values() if s.final and not s.live_tasks()]
        excess = len(final) - self.options.retained
        for sub in sorted(final, key=lambda s: s.finished_at or 0)[: max(0, excess)]:
            del self.submissions[sub.id]
            self._specs.pop(sub.id, None)
            self._dirty.discard(sub.id)
            self._forgotten.add(sub.id)


def _cores_left(spec: AppSpec, workers: list[TaskRecord]) -> float:
    held = sum(w.cores for w in workers)
    return math.inf if spec.cores_max is None else spec.cores_max - held


def _copy_slot(slot: OfferSlot) -> OfferSlot:
    return OfferSlot(slot.offer_id, slot.agent_id, slot.host, slot.agent_address, slot.role, slot.attributes,
                     slot.remaining, slot.used)


def _gauge(metrics: Mapping[str, Any], name: str) -> float | None:
    for key, gauge in (metrics.get("gauges") or {}).items():
        if key.endswith(f"ExecutorAllocationManager.executors.{name}") and isinstance(gauge, Mapping):
            value = gauge.get("value")
            if isinstance(value, (int, float)):
                return float(value)
    return None


def _seq_of(submission_id: str) -> int:
    tail = submission_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0
