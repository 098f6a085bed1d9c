"""The soak's Spark workload: Corral's Spark dispatcher, and one small supervised application after another.

The dispatcher follows the leading master through ZooKeeper and keeps its queue in its work_dir.
The submitter submits a PySpark application (it records each run of its driver in a marker file,
then sums a range), follows it through the dispatcher's REST status to a final state, and records
every state it sees; a little later it submits the next.  The nemesis's faults of masters, agents and
ZooKeeper hit its Spark master, driver and worker tasks as they hit any framework's.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from support.sparkkit import Dispatcher, http, python_request

APP = """
import sys
from pyspark.sql import SparkSession
with open(sys.argv[1], "a") as marker:
    marker.write("run\\n")
spark = SparkSession.builder.getOrCreate()
total = spark.range(0, 1000, numPartitions=4).selectExpr("sum(id)").collect()[0][0]
print("SUM", total, flush=True)
spark.stop()
sys.exit(0 if total == 499500 else 3)
"""
FINAL = ("FINISHED", "FAILED", "KILLED")
FINISH_SECONDS = 300  # after finish(): how long the application in flight may take to end
PAUSE_SECONDS = 15  # between one application's end and the next: a Spark application's JVMs take most of a CPU


class SparkWorkload(threading.Thread):
    def __init__(self, root: Path, master: str) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.runs = root / "spark-runs"
        self.runs.mkdir(exist_ok=True)
        self.app = root / "soak_sum.py"
        self.app.write_text(APP.lstrip())
        self.dispatcher = Dispatcher(root, master)
        self.records: list[dict[str, Any]] = []
        self.submissions = 0
        self.finishing = threading.Event()

    def start(self) -> None:
        self.dispatcher.start(wait=True)
        super().start()

    def run(self) -> None:
        while not self.finishing.is_set():
            submission = self._submit()
            if submission is None:
                time.sleep(2)
                continue
            self._follow(submission)
            self.finishing.wait(PAUSE_SECONDS)

    def finish(self) -> None:
        """Submit nothing more; wait for the application in flight to end."""
        self.finishing.set()
        self.join(FINISH_SECONDS)

    def subscribed(self) -> bool:
        try:
            return bool(self.dispatcher.state().get("subscribed"))
        except OSError:
            return False

    def stop(self) -> None:
        self.dispatcher.stop()

    def _submit(self) -> str | None:
        self.submissions += 1  # (each attempt its own marker: a create that failed may have been queued all the same)
        seq = self.submissions
        marker = self.runs / f"app-{seq}"
        request = python_request(self.app, str(marker), spark__driver__supervise="true", spark__app__name=f"soak-{seq}")
        code, body = _answer(lambda: self.dispatcher.create(request))
        if code != 200 or not isinstance(body, dict) or not body.get("success"):
            self._http(f"{self.dispatcher.address}/v1/submissions/create", code, body)
            return None
        self.records.append({"kind": "spark_submit", "t": time.time(), "submission": body["submissionId"],
                             "marker": str(marker)})
        return body["submissionId"]

    def _follow(self, submission: str) -> None:
        last = None
        deadline = None
        while True:
            url = f"{self.dispatcher.url}/api/v1/submissions/{submission}"
            code, body = _answer(lambda: http("GET", url, timeout=10))
            if code == 200 and isinstance(body, dict):
                seen = (body["state"], body.get("retries", 0))
                if seen != last:
                    self.records.append({"kind": "spark_state", "t": time.time(), "submission": submission,
                                         "state": body["state"], "retries": body.get("retries", 0),
                                         "reason": str(body.get("reason", ""))[:300]})
                    last = seen
                if body["state"] in FINAL:
                    return
            else:
                self._http(url, code, body)
            if self.finishing.is_set() and deadline is None:
                deadline = time.monotonic() + FINISH_SECONDS
            if deadline is not None and time.monotonic() > deadline:
                return  # (the checker names the application that never ended)
            time.sleep(1)

    def _http(self, url: str, code: int, body: Any) -> None:
        """A 5xx is recorded for the checker; no answer (the nemesis killed the dispatcher) is tried again."""
        if code >= 500:
            self.records.append({"kind": "http", "t": time.time(), "url": url, "status": code, "body": str(body)[:300]})

    def history(self) -> list[dict[str, Any]]:
        """The submitter's records and one `run` record per line of each driver's marker."""
        out = list(self.records)
        for record in self.records:
            if record["kind"] == "spark_submit":
                marker = Path(record["marker"])
                runs = len(marker.read_text().splitlines()) if marker.exists() else 0
                out += [{"kind": "spark_run", "t": marker.stat().st_mtime, "submission": record["submission"]}] * runs
        return out


def _answer(request: Callable[[], tuple[int, Any]]) -> tuple[int, Any]:
    """(status, body) of a dispatcher request; (0, the error) when nothing answered."""
    try:
        return request()
    except OSError as exc:
        return 0, str(exc)
