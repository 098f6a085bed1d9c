"""The master's metrics: `/metrics/snapshot` with Mesos's names, and Prometheus `/metrics`.

`snapshot(master)` extends the state machine's counters (`MasterState.metrics`)
with what Mesos also reports: timer statistics of
`allocator/mesos/allocation_run_ms` (`/count`, `/min`, `/max`, `/p50` ...
over the last 1000 runs), allocator resource totals, operator subscribers,
and `system/*`.  A standby master reports `master/elected` 0.

`/metrics` renders the same numbers for Prometheus through prometheus-client:
`master/tasks_running` becomes `corral_master_tasks_running`, cumulative
counts become counters (`..._total`), and per-role metrics become labels
(`corral_allocator_role_dominant_share{role="ads"}`).
"""

from __future__ import annotations

import asyncio
import math
import os
import re
from collections import deque
from typing import TYPE_CHECKING, Any, Iterable, Protocol

import psutil
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.process_collector import ProcessCollector

from corral.master import viewcache

if TYPE_CHECKING:
    from corral.master.state import MasterState

ALLOCATION_RUN = "allocator/mesos/allocation_run_ms"
WINDOW = 1000
PERCENTILES = (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99), ("p999", 0.999), ("p9999", 0.9999))

# Cumulative counts (Prometheus counters); everything else is a gauge.
COUNTERS = {
    "master/tasks_launched", "master/tasks_finished", "master/tasks_failed", "master/tasks_killed", "master/tasks_lost",
    "master/tasks_error", "master/tasks_dropped", "master/tasks_gone", "master/tasks_gone_by_operator",
    "master/offers_sent", "master/offers_declined", "master/offers_rescinded", "master/offers_accepted",
    "master/invalid_status_updates", "master/valid_status_updates", "master/messages_scheduler_calls",
    "master/slave_registrations", "master/slave_reregistrations", "master/slave_removals",
    "master/slave_unreachable_completed", "master/framework_registrations", "allocator/mesos/allocation_runs",
    "master/safe_mode_entries",
}
_ROLE_SHARE = re.compile(r"^allocator/mesos/roles/(?P<role>.+)/shares/dominant$")
_ROLE_ALLOCATED = re.compile(r"^allocator/mesos/allocation/roles/(?P<role>.+)/resources/(?P<name>[^/]+)/allocated$")
_ROLE_QUOTA = re.compile(r"^allocator/mesos/quota/roles/(?P<role>.+)/resources/(?P<name>[^/]+)/(?P<kind>guarantee|limit|consumed)$")
_RESOURCE = re.compile(r"^allocator/mesos/resources/(?P<name>[^/]+)/(?P<kind>total|offered_or_allocated)$")


class MetricsSource(Protocol):
    """What the metrics read of the master daemon (a `shell.MasterShell` is one)."""

    @property
    def state(self) -> MasterState | None: ...

    @property
    def leading(self) -> bool: ...

    @property
    def safe_mode(self) -> bool: ...


class RecordingMetrics(dict):
    """The state's metrics dict, also keeping a window of allocation run times."""

    def __init__(self, base: dict[str, float]) -> None:
        super().__init__(base)
        self.allocation_runs: deque[float] = deque(maxlen=WINDOW)

    def __setitem__(self, key: str, value: float) -> None:
        if key == ALLOCATION_RUN:
            self.allocation_runs.append(value)
        super().__setitem__(key, value)


def observe(state: "MasterState") -> None:
    if not isinstance(state.metrics, RecordingMetrics):
        state.metrics = RecordingMetrics(state.metrics)


def timer_stats(name: str, samples: Iterable[float]) -> dict[str, float]:
    values = sorted(samples)
    if not values:
        return {f"{name}/count": 0}
    out = {f"{name}/count": len(values), f"{name}/min": values[0], f"{name}/max": values[-1]}
    for label, q in PERCENTILES:
        # nearest-rank percentile, as Mesos's TimeSeries statistics
        out[f"{name}/{label}"] = values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]
    return out


def system_metrics() -> dict[str, float]:
    load = os.getloadavg()
    mem = psutil.virtual_memory()
    return {
        "system/cpus_total": float(os.cpu_count() or 0),
        "system/load_1min": load[0], "system/load_5min": load[1], "system/load_15min": load[2],
        "system/mem_total_bytes": float(mem.total), "system/mem_free_bytes": float(mem.available),
    }


def snapshot(master: MetricsSource) -> dict[str, float]:
    state = master.state
    if state is None:
        out: dict[str, float] = {"master/elected": 0.0, "master/safe_mode": 1.0 if master.safe_mode else 0.0}
        out.update(system_metrics())
        return out
    observe(state)
    out = dict(state.metrics)
    by_state: dict[str, int] = {}
    for fw in state.frameworks.values():
        for task in fw.tasks.values():
            by_state[task.state] = by_state.get(task.state, 0) + 1
    for name in ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_UNREACHABLE"):
        out["master/" + name.lower().replace("task_", "tasks_")] = by_state.get(name, 0)
    for key in ("master/tasks_gone_by_operator", "master/recovery_slave_removals", "master/dropped_messages"):
        out.setdefault(key, 0)
    # Cluster resources, from the view cache's per-agent usage (cheap when little changed).
    cache = viewcache.cache_for(state)
    kinds = ("cpus", "mem", "disk", "gpus")
    total = dict.fromkeys(kinds, 0.0)
    used = dict.fromkeys(kinds, 0.0)
    for agent in state.agents.values():
        for name, agent_total, agent_used in zip(kinds, cache.scalars(agent.total, kinds),
                                                 cache.scalars(cache.agent_used(agent), kinds)):
            total[name] += agent_total
            used[name] += agent_used
    for framework in state.frameworks.values():
        for name, offered in zip(kinds, cache.scalars(cache.offered(framework, state.offers), kinds)):
            used[name] += offered
    for name in kinds:
        out[f"master/{name}_total"] = total[name]
        out[f"master/{name}_used"] = used[name]
        out[f"master/{name}_percent"] = used[name] / total[name] if total[name] else 0.0
        out[f"allocator/mesos/resources/{name}/total"] = total[name]
        out[f"allocator/mesos/resources/{name}/offered_or_allocated"] = used[name]
    connected = sum(1 for a in state.agents.values() if a.connected)
    frameworks = state.frameworks.values()
    out.update({
        "master/elected": 1.0 if master.leading else 0.0,
        "master/safe_mode": 1.0 if master.safe_mode else 0.0,
        "master/uptime_secs": max(0.0, state.wallclock() - state.start_time),
        "master/slaves_active": connected,
        "master/slaves_connected": connected,
        "master/slaves_disconnected": len(state.agents) - connected,
        "master/slaves_inactive": len(state.agents) - connected,
        "master/slaves_unreachable": len(state.unreachable_agents),
        "master/frameworks_active": sum(1 for f in frameworks if f.active),
        "master/frameworks_inactive": sum(1 for f in frameworks if not f.active),
        "master/frameworks_connected": sum(1 for f in frameworks if f.connected),
        "master/frameworks_disconnected": sum(1 for f in frameworks if not f.connected),
        "master/outstanding_offers": len(state.offers),
        "master/operator_event_stream_subscribers": len(state.operator_subscribers),
    })
    metrics = state.metrics
    if isinstance(metrics, RecordingMetrics):
        out.update(timer_stats(ALLOCATION_RUN, metrics.allocation_runs))
    for info in state.allocator.roles():
        out[f"allocator/mesos/roles/{info.role}/shares/dominant"] = info.share
        for name, value in info.allocated.items():
            out[f"allocator/mesos/allocation/roles/{info.role}/resources/{name}/allocated"] = value
    for role, config in state.allocator.quotas().items():
        prefix = f"allocator/mesos/quota/roles/{role}/resources"
        for kind, values in (("guarantee", config.guarantees), ("limit", config.limits),
                             ("consumed", state.allocator.consumed_quota(role))):
            for name, value in values.items():
                out[f"{prefix}/{name}/{kind}"] = value
    out.update(system_metrics())
    return out


# ------------------------------------------------------------------ Prometheus


def _prom_name(key: str) -> str:
    return "corral_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)


class SnapshotCollector:
    def __init__(self, master: MetricsSource) -> None:
        self.master = master

    def collect(self) -> Iterable[Any]:
        snap = snapshot(self.master)
        shares = GaugeMetricFamily("corral_allocator_role_dominant_share", "Dominant share of each role (DRF)", labels=["role"])
        allocated = GaugeMetricFamily("corral_allocator_role_allocated", "Resources allocated to each role", labels=["role", "resource"])
        resources = GaugeMetricFamily("corral_allocator_resources", "Cluster resources: total and offered or allocated", labels=["resource", "kind"])
        quota = GaugeMetricFamily("corral_allocator_role_quota", "Quota of each role: guarantee, limit and consumption",
                                  labels=["role", "resource", "kind"])
        for key in sorted(snap):
            value = float(snap[key])
            if m := _ROLE_SHARE.match(key):
                shares.add_metric([m["role"]], value)
            elif m := _ROLE_ALLOCATED.match(key):
                allocated.add_metric([m["role"], m["name"]], value)
            elif m := _ROLE_QUOTA.match(key):
                quota.add_metric([m["role"], m["name"], m["kind"]], value)
            elif m := _RESOURCE.match(key):
                resources.add_metric([m["name"], m["kind"]], value)
            elif key in COUNTERS:
                yield CounterMetricFamily(_prom_name(key), f"Mesos metric {key}", value=value)
            else:
                yield GaugeMetricFamily(_prom_name(key), f"Mesos metric {key}", value=value)
        yield shares
        yield allocated
        yield resources
        yield quota


def add_routes(app: web.Application, master: MetricsSource) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(master))  # type: ignore[arg-type]
    ProcessCollector(registry=registry)

    async def prometheus(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def watch_states() -> None:
        # Each election creates a new MasterState: record its allocation runs from the start.
        while True:
            if master.state is not None:
                observe(master.state)
            await asyncio.sleep(0.2)

    watchers: list[asyncio.Task[None]] = []

    async def on_startup(app: web.Application) -> None:
        watchers.append(asyncio.ensure_future(watch_states()))

    async def on_cleanup(app: web.Application) -> None:
        for task in watchers:
            task.cancel()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/master/metrics", prometheus)
