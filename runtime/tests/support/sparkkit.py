"""Test support for the Spark suite: a real master + 2 agents and a real dispatcher process.

Builds on the real-process `Cluster` of `support.cluster` (module-scoped in
spark/conftest.py, so that the Spark tests share one cluster and one dispatcher),
and adds the dispatcher process, REST/API helpers and small Spark applications.  Spark
runs for real (pyspark's JVMs); the tests keep data tiny and shorten timers
through flags, and measure no wall-clock performance.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from support.cluster import free_port, wait_for

AGENT_RESOURCES = "cpus:4;mem:8192;disk:4096"
AGENT_ATTRIBUTES = ["rack:r1;os:debian", "rack:r2;os:debian"]
# Small JVMs that start fast: the tests check behaviour, not speed.
QUICK_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
TEST_CONF = {
    "spark.executor.memory": "512m",
    "spark.driver.memory": "512m",
    "spark.executor.extraJavaOptions": QUICK_JVM,
    "spark.driver.extraJavaOptions": QUICK_JVM,
    "spark.sql.shuffle.partitions": "4",
}
FAST_DISPATCHER = [
    "--executor_idle_timeout", "3", "--worker_idle_timeout", "1", "--poll_interval", "0.5",
    "--retry_wait_max", "2", "--refuse_seconds", "2", "--launch_timeout", "240",
]
FINAL = ("FINISHED", "FAILED", "KILLED")


def require_pyspark() -> None:
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("pyspark is not installed (scripts/setup-spark.sh installs it)")


def http(method: str, url: str, data: Any = None, timeout: float = 30) -> tuple[int, Any]:
    """(status, decoded JSON or text) without raising on HTTP errors."""
    request = urllib.request.Request(url, method=method, headers={"Content-Type": "application/json"})
    if data is not None:
        request.data = data if isinstance(data, bytes) else json.dumps(data).encode()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            code, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        code, body = exc.code, exc.read()
    try:
        return code, json.loads(body)
    except ValueError:
        return code, body.decode(errors="replace")


class Dispatcher:
    """A `corral spark-dispatcher` process on a fixed port and work directory (so it can be restarted)."""

    def __init__(self, root: Path, master: str, extra: list[str] | None = None) -> None:
        self.root = root
        self.master = master
        self.port = free_port()
        self.extra = list(extra or [])
        self.work_dir = root / "dispatcher"
        self.log = root / "dispatcher.log"
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self, wait: bool = True) -> "Dispatcher":
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "corral.cli.main", "spark-dispatcher", "--master", self.master,
                 "--port", str(self.port), "--work_dir", str(self.work_dir), *FAST_DISPATCHER, *self.extra],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        if wait:
            wait_for(lambda: self.state().get("subscribed"), timeout=30, what="the dispatcher to subscribe")
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def state(self) -> dict[str, Any]:
        code, body = http("GET", f"{self.url}/api/v1/state", timeout=5)
        return body if code == 200 else {}

    def create(self, request: dict[str, Any] | bytes) -> tuple[int, Any]:
        return http("POST", f"{self.url}/v1/submissions/create", request)

    def submit(self, request: dict[str, Any]) -> str:
        code, body = self.create(request)
        assert code == 200 and body["success"], body
        return body["submissionId"]

    def get(self, submission_id: str) -> dict[str, Any]:
        code, body = http("GET", f"{self.url}/api/v1/submissions/{submission_id}")
        assert code == 200, body
        return body

    def wait_state(self, submission_id: str, states: tuple[str, ...] | str, timeout: float = 240) -> dict[str, Any]:
        states = (states,) if isinstance(states, str) else states
        seen: list[str] = []

        def check() -> dict[str, Any] | None:
            status = self.get(submission_id)
            if not seen or seen[-1] != status["state"]:
                seen.append(status["state"])
            if status["state"] in states:
                return status
            if status["state"] in FINAL:
                raise AssertionError(f"{submission_id} ended {status['state']} ({status['reason']}), not {states}; "
                                     f"driver stderr:\n{self.logs(submission_id, stream='stderr')[-3000:]}")
            return None

        try:
            return wait_for(check, timeout=timeout, what=f"{submission_id} to be {'/'.join(states)} (seen {seen})")
        except AssertionError as exc:
            if "ended" in str(exc):
                raise
            raise AssertionError(f"{exc}; last status {self.get(submission_id)}") from None

    def logs(self, submission_id: str, task: str = "driver", stream: str = "stdout") -> str:
        code, body = http("GET", f"{self.url}/api/v1/submissions/{submission_id}/logs/{task}?stream={stream}&offset=0")
        return body.get("data", "") if code == 200 and isinstance(body, dict) else f"(no logs: {code} {body})"

    def tail_log(self) -> str:
        return self.log.read_text(errors="replace")[-8000:] if self.log.exists() else ""


def python_request(path: Path | str, *args: str, **properties: str) -> dict[str, Any]:
    """A CreateSubmissionRequest for a Python application, in the form Spark's standalone REST server takes."""
    props = {"spark.app.name": Path(path).stem, **TEST_CONF}
    props.update({k.replace("__", "."): v for k, v in properties.items()})
    return {
        "action": "CreateSubmissionRequest",
        "appResource": str(path),
        "mainClass": "org.apache.spark.deploy.PythonRunner",
        "appArgs": [str(path), "", *args],
        "sparkProperties": props,
        "environmentVariables": {},
        "clientSparkVersion": "4.0.0",
    }


def corral(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "corral.cli.main", *args], capture_output=True, text=True, timeout=timeout)


def held_by(cluster: Any, framework_id: str) -> float:
    """cpus held by a framework's running tasks, from the master's /state."""
    total = 0.0
    for fw in cluster.state()["frameworks"]:
        if fw["id"] == framework_id:
            total += sum(t["resources"]["cpus"] for t in fw["tasks"] if t["state"] in ("TASK_RUNNING", "TASK_STAGING", "TASK_STARTING"))
    return total


APPS = {
    "sum.py": """
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
total = spark.range(0, 1000, numPartitions=4).selectExpr("sum(id)").collect()[0][0]
print("SUM", total, "ARGS", " ".join(sys.argv[1:]), flush=True)
spark.stop()
""",
    "sleepy.py": """
import time
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
print("started", flush=True)
time.sleep(600)
""",
    "flaky.py": """
import os, sys
marker = sys.argv[1]
if not os.path.exists(marker):
    open(marker, "w").write("failed once")
    print("first attempt: failing on purpose", flush=True)
    sys.exit(3)
print("second attempt: OK", flush=True)
""",
    "busy_then_idle.py": """
import sys, time
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
sc = spark.sparkContext
print("sum", sc.parallelize(range(8), 8).map(lambda x: time.sleep(4) or x).sum(), flush=True)
print("idle", flush=True)
time.sleep(float(sys.argv[1]))
""",
    "restartable.py": """
import time
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
time.sleep(45)
print("COUNT", spark.range(0, 100, numPartitions=2).count(), flush=True)
spark.stop()
""",
}

JAVA_APP = """
import org.apache.spark.sql.SparkSession;

public class CorralCount {
    public static void main(String[] args) {
        SparkSession spark = SparkSession.builder().appName("CorralCount").getOrCreate();
        long n = spark.range(0, 1000, 1, 2).count();
        System.out.println("JVM COUNT " + n + " ARGS " + String.join(",", args));
        spark.stop();
    }
}
"""


def write_apps(root: Path) -> Path:
    apps = root / "apps"
    apps.mkdir(parents=True, exist_ok=True)
    for name, text in APPS.items():
        (apps / name).write_text(text.lstrip())
    return apps


def build_jar(root: Path) -> Path | None:
    """Compile the small JVM application against pyspark's jars (None if there is no javac)."""
    import shutil

    javac, jar = shutil.which("javac"), shutil.which("jar")
    if not javac or not jar:
        return None
    import pyspark

    jars = os.path.join(os.path.dirname(pyspark.__file__), "jars", "*")
    src = root / "java"
    src.mkdir(parents=True, exist_ok=True)
    (src / "CorralCount.java").write_text(JAVA_APP)
    subprocess.run([javac, "-cp", jars, "CorralCount.java"], cwd=src, check=True, capture_output=True, timeout=120)
    subprocess.run([jar, "cf", "corral-count.jar", "CorralCount.class"], cwd=src, check=True, capture_output=True, timeout=60)
    return src / "corral-count.jar"
