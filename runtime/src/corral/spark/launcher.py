"""What runs inside each Spark task: `python -m corral.spark.launcher master|worker|driver ...`.

The launcher sets Spark's environment (SPARK_HOME from the installed pyspark,
SPARK_LOCAL_IP, SPARK_NO_DAEMONIZE), picks free ports on the agent, starts the
Spark daemon or spark-submit, and reports to the dispatcher:

- master: starts `spark-class ...deploy.master.Master`, waits until its web UI's
  `/json/` says ALIVE, then reports `spark_url` and `webui_url`.
- worker: waits for its application's Spark master URL (asked of the
  dispatcher), starts `spark-class ...deploy.worker.Worker`, reports its port.
- driver: waits for the Spark master URL, then runs `spark-submit` in client
  mode (the driver lives in this task), and reports the driver UI's URL.

The launcher exits with its child's exit status (so the task's final state is
the driver's), and forwards SIGTERM to it.  It only needs the standard library
and pyspark, and writes its own diagnostics to stderr with a `launcher:` prefix.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

POLL_SECONDS = 0.25


def log(message: str) -> None:
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} launcher: {message}\n")
    sys.stderr.flush()


def find_spark_home(given: str | None) -> str:
    if given:
        return given
    if os.environ.get("SPARK_HOME"):
        return os.environ["SPARK_HOME"]
    import importlib.util

    found = importlib.util.find_spec("pyspark")  # without importing it (py4j and friends are slow to load)
    if found is None or not found.origin:
        raise SystemExit("launcher: pyspark is not installed for this Python; run scripts/setup-spark.sh")
    return os.path.dirname(found.origin)


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def http_json(url: str, data: Any = None, timeout: float = 5.0) -> Any:
    request = urllib.request.Request(url, headers={"Content-Type": "application/json"})
    if data is not None:
        request.data = json.dumps(data).encode()
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
        return json.loads(body) if body else None


class Launcher:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.dispatcher = args.dispatcher.rstrip("/")
        self.spark_home = find_spark_home(args.spark_home)
        self.sandbox = os.environ.get("MESOS_SANDBOX") or os.getcwd()
        # In an image the sandbox is mounted at MESOS_SANDBOX; the dispatcher reads logs at the agent's path.
        self.agent_sandbox = os.environ.get("MESOS_DIRECTORY") or self.sandbox
        self.child: subprocess.Popen | None = None
        self.stopping = False
        self.env = dict(os.environ)
        self.env.update({"SPARK_HOME": self.spark_home, "SPARK_LOCAL_IP": args.host, "SPARK_NO_DAEMONIZE": "1",
                         "PYSPARK_PYTHON": self.env.get("PYSPARK_PYTHON", sys.executable),
                         "PYSPARK_DRIVER_PYTHON": self.env.get("PYSPARK_DRIVER_PYTHON", sys.executable)})
        self.env.setdefault("SPARK_DAEMON_MEMORY", "256m")
        self.env.pop("SPARK_CONF_DIR", None)
        # Spark's JVMs make /tmp/spark-<uuid> and remove it on exit, but not when killed (SIGKILL
        # after the grace period, a lost agent): in the sandbox it goes with the task's.
        tmp = os.path.join(self.sandbox, "tmp")
        os.makedirs(tmp, exist_ok=True)
        self.env["TMPDIR"] = tmp
        for opts in ("SPARK_SUBMIT_OPTS", "SPARK_DAEMON_JAVA_OPTS"):
            self.env[opts] = f"{self.env.get(opts, '')} -Djava.io.tmpdir={tmp}".strip()

    # -- talking to the dispatcher ------------------------------------------------------

    def report(self, info: dict[str, Any]) -> None:
        info = dict(info, sandbox=self.agent_sandbox)
        url = f"{self.dispatcher}/internal/v1/tasks/{self.args.task_id}"
        deadline = time.monotonic() + self.args.timeout
        while True:
            try:
                http_json(url, info)
                return
            except urllib.error.HTTPError as exc:
                if exc.code == 410:
                    self.give_up(f"the dispatcher says this attempt has ended: {exc.read().decode(errors='replace')}")
                if time.monotonic() > deadline:
                    self.give_up(f"cannot report to the dispatcher: HTTP {exc.code}")
            except OSError as exc:
                if time.monotonic() > deadline:
                    self.give_up(f"cannot report to the dispatcher at {self.dispatcher}: {exc}")
            time.sleep(1.0)

    def wait_for_master(self) -> str:
        url = f"{self.dispatcher}/internal/v1/submissions/{self.args.submission}/master?attempt={self.args.attempt}"
        deadline = time.monotonic() + self.args.timeout
        warned = False
        while time.monotonic() < deadline and not self.stopping:
            try:
                answer = http_json(url)
                if answer and answer.get("spark_url"):
                    return answer["spark_url"]
            except urllib.error.HTTPError as exc:
                if exc.code == 410:
                    self.give_up(f"the dispatcher says this attempt has ended: {exc.read().decode(errors='replace')}")
            except OSError as exc:
                if not warned:
                    log(f"waiting for the dispatcher at {self.dispatcher}: {exc}")
                    warned = True
            time.sleep(POLL_SECONDS)
        self.give_up(f"no Spark master within {self.args.timeout:g}s")
        raise AssertionError  # unreachable

    def give_up(self, why: str) -> None:
        log(why)
        self.stop_child()
        raise SystemExit(3)

    # -- the child process ------------------------------------------------------------------

    def start(self, argv: list[str]) -> subprocess.Popen:
        log("starting " + " ".join(argv))
        self.child = subprocess.Popen(argv, env=self.env, cwd=self.sandbox, stdin=subprocess.DEVNULL)
        return self.child

    def stop_child(self) -> None:
        child = self.child
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()

    def on_term(self, *_: object) -> None:
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.terminate()
        else:
            raise SystemExit(143)

    def wait(self) -> int:
        assert self.child is not None
        code = self.child.wait()
        log(f"{self.args.kind} exited with status {code}")
        return 0 if code == 0 else (code if code > 0 else 128 - code)

    def spark_class(self, main: str) -> list[str]:
        return [os.path.join(self.spark_home, "bin", "spark-class"), main]

    # -- the three kinds -----------------------------------------------------------------------

    def run_master(self) -> int:
        host = self.args.host
        for attempt in range(5):
            port, ui = free_port(host), free_port(host)
            child = self.start(self.spark_class("org.apache.spark.deploy.master.Master")
                               + ["--host", host, "--port", str(port), "--webui-port", str(ui)])
            if self.await_master(child, f"http://{_url_host(host)}:{ui}/json/"):
                break
            if self.stopping:
                return self.wait()
            log(f"the Spark master did not come up on ports {port}/{ui} (attempt {attempt + 1}); retrying")
            self.stop_child()
        else:
            self.give_up("the Spark master did not start")
        self.report({"spark_url": f"spark://{_url_host(host)}:{port}", "webui_url": f"http://{_url_host(host)}:{ui}",
                     "host": host, "port": port})
        return self.wait()

    def await_master(self, child: subprocess.Popen, url: str) -> bool:
        deadline = time.monotonic() + self.args.timeout
        while time.monotonic() < deadline and not self.stopping:
            if child.poll() is not None:
                return False
            try:
                if http_json(url, timeout=2).get("status") == "ALIVE":
                    return True
            except (OSError, ValueError):
                pass
            time.sleep(POLL_SECONDS)
        return False

    def run_worker(self) -> int:
        master = self.wait_for_master()
        host = self.args.host
        port = free_port(host)
        work_dir = os.path.join(self.sandbox, "work")
        os.makedirs(work_dir, exist_ok=True)
        self.start(self.spark_class("org.apache.spark.deploy.worker.Worker")
                   + [master, "--host", host, "--port", str(port), "--webui-port", "0", "--cores", str(self.args.cores),
                      "--memory", self.args.memory, "--work-dir", work_dir])
        self.report({"host": host, "port": port, "master": master})
        return self.wait()

    def run_driver(self) -> int:
        spec = json.loads(self.args.spec)
        master = self.wait_for_master()
        host = self.args.host
        ui_port = free_port(host)
        conf = dict(spec.get("conf") or {})
        if "spark.pyspark.python" in conf:  # (for the executors: it would also win over PYSPARK_DRIVER_PYTHON)
            conf.setdefault("spark.pyspark.driver.python", self.env["PYSPARK_DRIVER_PYTHON"])
        conf.update({"spark.driver.host": host, "spark.driver.bindAddress": host, "spark.ui.port": str(ui_port),
                     "spark.ui.showConsoleProgress": "false"})
        argv = [os.path.join(self.spark_home, "bin", "spark-submit"), "--master", master, "--deploy-mode", "client",
                "--name", spec.get("name") or "spark", "--driver-memory", spec["driver_memory"]]
        if spec["kind"] == "jvm":
            argv += ["--class", spec["main_class"]]
        if spec.get("py_files"):
            argv += ["--py-files", ",".join(spec["py_files"])]
        for key, value in sorted(conf.items()):
            argv += ["--conf", f"{key}={value}"]
        argv += [spec["resource"], *spec.get("args", [])]
        self.start(argv)
        self.report({"ui_url": f"http://{_url_host(host)}:{ui_port}", "host": host})
        return self.wait()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m corral.spark.launcher", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["master", "worker", "driver"])
    parser.add_argument("--dispatcher", required=True, help="http://host:port of the dispatcher")
    parser.add_argument("--submission", required=True)
    parser.add_argument("--attempt", required=True, type=int)
    parser.add_argument("--task-id", required=True)
    parser.add_argument("--host", required=True, help="address the Spark daemon binds to")
    parser.add_argument("--spark-home", default=None)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--memory", default="1024m")
    parser.add_argument("--spec", default="{}", help="driver: JSON of the application to run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    launcher = Launcher(args)
    signal.signal(signal.SIGTERM, launcher.on_term)
    signal.signal(signal.SIGINT, launcher.on_term)
    if args.kind == "master":
        return launcher.run_master()
    if args.kind == "worker":
        return launcher.run_worker()
    return launcher.run_driver()


if __name__ == "__main__":
    sys.exit(main())
