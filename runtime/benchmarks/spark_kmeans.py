"""spark-perf K-means on Corral (coarse- and fine-grained, through the dispatcher) against plain Spark standalone.

One run, side by side, at a few small scale factors.  The peer is a Spark
standalone cluster started here with the same executor cores and memory as the
Corral runs get (a master and one worker of `--cores` cores), with the driver
run by spark-submit in client mode, as the dispatcher's driver tasks do.  For
each scale factor the three runs are interleaved (standalone, coarse, fine) so
that drifting machine load hits them alike.  The agents use posix isolation by
default: on a machine shared with other work, cgroups v1 cpu shares give the whole
Corral hierarchy one share against every other busy process, which would measure
the neighbours rather than the dispatcher (--agent-isolation cgroups to keep
them).  Prints the median training and
test times and the training-time ratios, against the targets
coarse <= 1.05 x standalone and fine <= 1.15 x coarse, and writes the report
(JSON, CSV, markdown, PNG) under --out.

    python runtime/benchmarks/spark_kmeans.py [--scale-factors 0.0001,0.001,0.01] [--num-trials 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

from corral.cli.local import LocalCluster, kill_processes_in, stop_processes
from corral.sparkperf import kmeans, report
from corral.sparkperf.stage import DispatcherClient, PerfConfig

DAEMON_JAVA_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"timed out waiting for {what}")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


class Standalone:
    """A plain Spark standalone cluster: one master, one worker."""

    def __init__(self, work: str, cores: int, memory: str) -> None:
        import pyspark

        self.home = os.path.dirname(pyspark.__file__)
        self.work = work
        self.cores, self.memory = cores, memory
        self.port, self.ui = free_port(), free_port()
        self.procs: list[subprocess.Popen] = []
        self.env = dict(os.environ, SPARK_HOME=self.home, SPARK_LOCAL_IP="127.0.0.1", SPARK_NO_DAEMONIZE="1",
                        SPARK_DAEMON_MEMORY="256m", SPARK_DAEMON_JAVA_OPTS=DAEMON_JAVA_OPTS,
                        PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(os.path.join(self.work, f"{name}.log"), "ab")
        self.procs.append(subprocess.Popen([os.path.join(self.home, "bin", "spark-class"), *args], env=self.env,
                                           stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.work))

    def start(self) -> "Standalone":
        os.makedirs(self.work, exist_ok=True)
        self._spawn("master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(self.port),
                               "--webui-port", str(self.ui)])
        wait_until(lambda: get_json(f"http://127.0.0.1:{self.ui}/json/")["status"] == "ALIVE", 120, "the Spark master")
        self._spawn("worker", ["org.apache.spark.deploy.worker.Worker", self.url, "--host", "127.0.0.1", "--cores",
                               str(self.cores), "--memory", self.memory, "--work-dir", os.path.join(self.work, "work")])
        wait_until(lambda: get_json(f"http://127.0.0.1:{self.ui}/json/")["aliveworkers"] >= 1, 120, "the Spark worker")
        return self

    def run(self, cfg: PerfConfig, scale: float) -> dict[str, Any]:
        conf = cfg.properties("standalone", scale)
        conf.pop("spark.corral.mode")
        argv = [os.path.join(self.home, "bin", "spark-submit"), "--master", self.url, "--deploy-mode", "client",
                "--driver-memory", cfg.driver_memory, "--conf", "spark.driver.host=127.0.0.1",
                "--conf", "spark.driver.bindAddress=127.0.0.1", "--conf", "spark.ui.showConsoleProgress=false"]
        for key, value in conf.items():
            argv += ["--conf", f"{key}={value}"]
        argv += [kmeans.__file__, *cfg.app_args(scale)]
        with open(os.path.join(self.work, f"driver-{scale:g}.err"), "ab") as err:
            out = subprocess.run(argv, env=self.env, stdout=subprocess.PIPE, stderr=err, text=True,
                                 timeout=cfg.timeout, check=True)
        return report.parse_results(out.stdout)

    def stop(self) -> None:
        stop_processes(self.procs, 20)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale-factors", default="0.0001,0.001,0.01")
    p.add_argument("--num-trials", type=int, default=5)
    p.add_argument("--ignored-trials", type=int, default=2)
    p.add_argument("--inter-trial-wait", type=float, default=1.0)
    p.add_argument("--cores", type=int, default=2, help="executor cores of every run (spark.cores.max)")
    p.add_argument("--executor-memory", default="3g")
    p.add_argument("--driver-memory", default="2g")
    p.add_argument("--agent-resources", default="cpus:4;mem:12288;disk:8192")
    p.add_argument("--modes", default="standalone,coarse,fine")
    p.add_argument("--agent-isolation", default="posix", choices=["posix", "cgroups", "auto"])
    p.add_argument("--out", default="artifacts/spark-kmeans-benchmark")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    args = p.parse_args()
    scales = [float(s) for s in args.scale_factors.split(",")]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    cfg = PerfConfig(scale_factors=scales, num_trials=args.num_trials, ignored_trials=args.ignored_trials,
                     inter_trial_wait=args.inter_trial_wait, executor_memory=args.executor_memory,
                     driver_memory=args.driver_memory, cores_max=args.cores, timeout=3600)
    work = tempfile.mkdtemp(prefix="corral-spark-bench-")
    cluster = LocalCluster(2, "127.0.0.1", 0, os.path.join(work, "corral"), args.agent_resources, [],
                           ["--allocation_interval", "0.2"], ["--isolation", args.agent_isolation])
    dispatcher_proc = peer = None
    rows: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    try:
        cluster.start()
        dport = free_port()
        log = open(os.path.join(work, "dispatcher.log"), "ab")
        dispatcher_proc = subprocess.Popen(
            [sys.executable, "-m", "corral.cli.main", "spark-dispatcher", "--master", cluster.master, "--port", str(dport),
             "--work_dir", os.path.join(work, "dispatcher"), "--daemon_java_opts", DAEMON_JAVA_OPTS],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        dispatcher = f"127.0.0.1:{dport}"
        wait_until(lambda: get_json(f"http://{dispatcher}/api/v1/state")["subscribed"], 60, "the dispatcher")
        client = DispatcherClient(dispatcher)
        if "standalone" in modes:
            peer = Standalone(os.path.join(work, "standalone"), args.cores, args.executor_memory).start()
        print(f"Corral: master {cluster.master}, 2 agents ({args.agent_resources}), dispatcher {dispatcher}; "
              f"peer: Spark standalone, 1 worker with {args.cores} cores; {args.agent_isolation} isolation; {args.num_trials} trials, "
              f"first {args.ignored_trials} ignored", flush=True)
        for scale in scales:
            for mode in modes:
                started = time.time()
                if mode == "standalone":
                    assert peer is not None
                    result = peer.run(cfg, scale)
                    sid = None
                else:
                    sid = client.submit(cfg.app, cfg.app_args(scale), cfg.properties(mode, scale))
                    status = client.wait(sid, cfg.timeout, lambda s: None)
                    if status["state"] != "FINISHED":
                        raise RuntimeError(f"{mode} x{scale:g}: {sid} ended {status['state']}: {status['reason']}")
                    result = report.parse_results(client.stdout(sid))
                r = report.row(mode, scale, result, args.ignored_trials, submission_id=sid,
                               wall_seconds=round(time.time() - started, 1))
                rows.append(r)
                runs.append({"mode": mode, "scale_factor": scale, "results": result["results"]})
                print(f"scale {scale:<7g} {mode:<10} training {r['trainingTime_median']:7.3f}s "
                      f"(std {r['trainingTime_std']:.3f})  test {r['testTime_median']:6.3f}s  wall {r['wall_seconds']:.0f}s",
                      flush=True)
    finally:
        if peer is not None:
            peer.stop()
        if dispatcher_proc is not None and dispatcher_proc.poll() is None:
            dispatcher_proc.send_signal(signal.SIGTERM)
            dispatcher_proc.wait(30)
        cluster.stop()
        kill_processes_in(work)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory kept: {work}")
    by = {(r["mode"], r["scale_factor"]): r for r in rows}
    print("\nTraining-time ratios (median over kept trials; targets: coarse/standalone <= 1.05, fine/coarse <= 1.15)")
    ratios = []
    for scale in scales:
        line = {"scale_factor": scale}
        st, co, fi = (by.get((m, scale)) for m in ("standalone", "coarse", "fine"))
        if st and co:
            line["coarse_vs_standalone"] = round(co["trainingTime_median"] / st["trainingTime_median"], 3)
        if co and fi:
            line["fine_vs_coarse"] = round(fi["trainingTime_median"] / co["trainingTime_median"], 3)
        ratios.append(line)
        print(f"  scale {scale:<7g} coarse/standalone {line.get('coarse_vs_standalone', '-')}   "
              f"fine/coarse {line.get('fine_vs_coarse', '-')}")
    paths = report.write_report(rows, args.out, name="spark-kmeans-benchmark",
                                title="K-Means: Corral coarse/fine vs Spark standalone",
                                meta={"cores": args.cores, "executor_memory": args.executor_memory,
                                      "num_trials": args.num_trials, "ignored_trials": args.ignored_trials,
                                      "ratios": ratios}, runs=runs)
    print("\n" + open(paths["md"]).read())
    print("report: " + ", ".join(paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
