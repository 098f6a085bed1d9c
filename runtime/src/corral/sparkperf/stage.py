"""The spark-perf stage: K-means over a list of scale factors, in each mode, through the dispatcher.

    python -m corral.sparkperf.stage --dispatcher 127.0.0.1:7077 --modes coarse,fine \\
        --scale-factors 0.001,0.01 --out artifacts/spark-perf

(also `corral spark perf ...`).  Each (mode, scale factor) is one application
submitted through Spark's REST protocol and run to its end, one at a time; its
driver's `results: {json}` line is read through the dispatcher's log API, and
the report (JSON, CSV, markdown, PNG) is written when all runs are done (runs
that failed are listed in the JSON and make the exit status non-zero).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from corral.sparkperf import kmeans, report

logger = logging.getLogger(__name__)

FINAL = ("FINISHED", "FAILED", "KILLED")
_WORKLOAD_DEFAULTS = {name: default for name, _, default in kmeans.WORKLOAD}


@dataclass
class PerfConfig:
    scale_factors: list[float] = field(default_factory=lambda: [0.001, 0.01])
    modes: list[str] = field(default_factory=lambda: ["coarse", "fine"])
    num_examples: int = _WORKLOAD_DEFAULTS["num_examples"]
    num_features: int = _WORKLOAD_DEFAULTS["num_features"]
    num_centers: int = _WORKLOAD_DEFAULTS["num_centers"]
    num_iterations: int = _WORKLOAD_DEFAULTS["num_iterations"]
    num_partitions: int = _WORKLOAD_DEFAULTS["num_partitions"]
    num_trials: int = _WORKLOAD_DEFAULTS["num_trials"]
    ignored_trials: int = 2
    inter_trial_wait: float = _WORKLOAD_DEFAULTS["inter_trial_wait"]
    random_seed: int = _WORKLOAD_DEFAULTS["random_seed"]
    executor_memory: str = "2g"
    driver_memory: str = "2g"
    cores_max: int | None = None
    conf: dict[str, str] = field(default_factory=dict)
    app: str = kmeans.__file__  # the K-means application as the agents see it
    timeout: float = 3600.0  # per run

    def app_args(self, scale: float) -> list[str]:
        args = []
        for name, kind, _ in kmeans.WORKLOAD:
            value = getattr(self, name)
            args += ["--" + name.replace("_", "-"), f"{value:g}" if kind is float else str(value)]
        return args + ["--scale-factor", f"{scale:g}"]

    def properties(self, mode: str, scale: float) -> dict[str, str]:
        props = {"spark.app.name": f"spark-perf kmeans {mode} x{scale:g}", "spark.corral.mode": mode,
                 "spark.executor.memory": self.executor_memory, "spark.driver.memory": self.driver_memory,
                 # As spark-perf's common Java options: no delay scheduling, for consistent runs.
                 "spark.locality.wait": str(60 * 1000 * 1000)}
        if self.cores_max:
            props["spark.cores.max"] = str(self.cores_max)
        props.update(self.conf)
        return props


class DispatcherClient:
    def __init__(self, address: str) -> None:
        self.base = "http://" + address.removeprefix("spark://").removeprefix("http://").rstrip("/")

    def _call(self, method: str, path: str, data: Any = None) -> Any:
        request = urllib.request.Request(self.base + path, method=method, headers={"Content-Type": "application/json"})
        if data is not None:
            request.data = json.dumps(data).encode()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: HTTP {exc.code}: {exc.read().decode(errors='replace')[:500]}") from None

    def submit(self, app: str, args: list[str], properties: dict[str, str]) -> str:
        from corral.spark.protocol import PYTHON_RUNNER, server_spark_version

        response = self._call("POST", "/v1/submissions/create", {
            "action": "CreateSubmissionRequest", "appResource": app, "mainClass": PYTHON_RUNNER,
            "appArgs": [app, "", *args], "sparkProperties": properties, "environmentVariables": {},
            "clientSparkVersion": server_spark_version(),
        })
        if not response.get("success"):
            raise RuntimeError(f"submission refused: {response.get('message')}")
        return response["submissionId"]

    def status(self, submission_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/v1/submissions/{submission_id}")

    def stdout(self, submission_id: str) -> str:
        chunks, offset = [], 0
        while True:
            data = self._call("GET", f"/api/v1/submissions/{submission_id}/logs/driver?stream=stdout&offset={offset}")
            if not data.get("data"):
                return "".join(chunks)
            chunks.append(data["data"])
            offset += data.get("length", len(data["data"].encode()))

    def wait(self, submission_id: str, timeout: float, say: Callable[[str], None]) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last = None
        while True:
            status = self.status(submission_id)
            if status["state"] != last:
                say(f"  {submission_id}: {status['state']}" + (f" ({status['reason']})" if status.get("reason") else ""))
                last = status["state"]
            if status["state"] in FINAL:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"{submission_id} still {status['state']} after {timeout:g}s")
            time.sleep(2.0)


def run_stage(dispatcher: str, cfg: PerfConfig, out_dir: str, title: str | None = None,
              say: Callable[[str], None] = print, meta: dict[str, Any] | None = None) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Run every (mode, scale factor); write the report; return (paths, failures)."""
    client = DispatcherClient(dispatcher)
    rows, runs, failures = [], [], []
    for mode in cfg.modes:
        for scale in cfg.scale_factors:
            say(f"K-means, {mode}-grained, scale factor {scale:g}")
            started = time.time()
            try:
                sid = client.submit(cfg.app, cfg.app_args(scale), cfg.properties(mode, scale))
                status = client.wait(sid, cfg.timeout, say)
                output = client.stdout(sid)
                if status["state"] != "FINISHED":
                    raise RuntimeError(f"{sid} ended {status['state']}: {status.get('reason')}")
                result = report.parse_results(output)
                rows.append(report.row(mode, scale, result, cfg.ignored_trials, submission_id=sid,
                                       wall_seconds=round(time.time() - started, 1)))
                runs.append({"mode": mode, "scale_factor": scale, "submission_id": sid, "results": result["results"],
                             "options": result.get("options"), "sparkVersion": result.get("sparkVersion")})
                r = rows[-1]
                say(f"  training {r['trainingTime_median']:.3f}s (std {r['trainingTime_std']:.3f}), "
                    f"test {r['testTime_median']:.3f}s (std {r['testTime_std']:.3f})")
            except Exception as exc:  # one failed run must not lose the others
                failures.append({"mode": mode, "scale_factor": scale, "error": str(exc)})
                say(f"  FAILED: {exc}")
    info = {"dispatcher": dispatcher, "modes": ",".join(cfg.modes),
            "scale_factors": ",".join(f"{s:g}" for s in cfg.scale_factors), "num_trials": cfg.num_trials,
            "ignored_trials": cfg.ignored_trials, "executor_memory": cfg.executor_memory,
            "cores_max": cfg.cores_max or "", **(meta or {}), "failures": failures}
    paths = report.write_report(rows, out_dir, title=title, meta=info, runs=runs) if rows else {}
    return paths, failures


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="corral spark perf", description="spark-perf's K-means stage through the dispatcher")
    p.add_argument("--dispatcher", default="127.0.0.1:7077")
    p.add_argument("--scale-factors", default="0.001,0.01", help="comma-separated, e.g. 0.001,0.01,0.1")
    p.add_argument("--modes", default="coarse,fine")
    kmeans.add_workload_args(p)
    p.add_argument("--ignored-trials", type=int, default=2)
    p.add_argument("--executor-memory", default="2g")
    p.add_argument("--driver-memory", default="2g")
    p.add_argument("--cores-max", type=int, default=None)
    p.add_argument("--conf", action="append", default=[], help="extra Spark property KEY=VALUE")
    p.add_argument("--app", default=kmeans.__file__, help="path of kmeans.py on the agents")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    p.add_argument("--out", default="artifacts/spark-perf")
    p.add_argument("--title", default=None)
    return p.parse_args(argv)


def config_from(args: argparse.Namespace) -> PerfConfig:
    try:
        scales = [float(s) for s in args.scale_factors.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"--scale-factors: '{args.scale_factors}' is not a comma-separated list of numbers") from None
    if not scales or any(s <= 0 for s in scales):
        raise SystemExit("--scale-factors: give at least one scale factor > 0")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in ("coarse", "fine")]
    if not modes or bad:
        raise SystemExit(f"--modes: expected coarse and/or fine (got {args.modes})")
    if args.num_trials <= args.ignored_trials:
        raise SystemExit(f"--num-trials ({args.num_trials}) must be more than --ignored-trials ({args.ignored_trials})")
    conf = {}
    for item in args.conf:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--conf '{item}' is not KEY=VALUE")
        conf[key] = value
    return PerfConfig(
        scale_factors=scales, modes=modes, num_examples=args.num_examples, num_features=args.num_features,
        num_centers=args.num_centers, num_iterations=args.num_iterations, num_partitions=args.num_partitions,
        num_trials=args.num_trials, ignored_trials=args.ignored_trials, inter_trial_wait=args.inter_trial_wait,
        random_seed=args.random_seed, executor_memory=args.executor_memory, driver_memory=args.driver_memory,
        cores_max=args.cores_max, conf=conf, app=args.app, timeout=args.timeout,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = config_from(args)
    paths, failures = run_stage(args.dispatcher, cfg, args.out, args.title, say=lambda s: print(s, flush=True))
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    if paths:
        print(open(paths["md"]).read())
    if failures:
        print(f"{len(failures)} run(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
