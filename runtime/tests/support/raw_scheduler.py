"""A bare v1 scheduler client over http.client, for probing the protocol itself."""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any, Callable

from corral.protocol.recordio import Decoder


class RawScheduler:
    def __init__(self, master: str, framework_info: dict[str, Any] | None = None) -> None:
        self.host, port = master.split(":")
        self.port = int(port)
        self.info = framework_info or {"user": "root", "name": "raw"}
        self.events: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self.stream_id: str | None = None
        self.framework_id: str | None = None
        self._conn: http.client.HTTPConnection | None = None

    def subscribe(self) -> "RawScheduler":
        self._conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": self.info}}
        self._conn.request("POST", "/api/v1/scheduler", json.dumps(body), {"Content-Type": "application/json"})
        response = self._conn.getresponse()
        assert response.status == 200, response.read()
        self.stream_id = response.getheader("Mesos-Stream-Id")
        threading.Thread(target=self._read, args=(response,), daemon=True).start()
        subscribed = self.wait_event("SUBSCRIBED")
        self.framework_id = subscribed["subscribed"]["framework_id"]["value"]
        return self

    def _read(self, response: http.client.HTTPResponse) -> None:
        decoder = Decoder()
        try:
            while True:
                data = response.read1(65536)
                if not data:
                    return
                for record in decoder.feed(data):
                    event = json.loads(record)
                    with self.cond:
                        self.events.append(event)
                        self.cond.notify_all()
                    self._received(event)
        except (OSError, AttributeError, ValueError):  # the connection was closed under us
            return

    def _received(self, event: dict[str, Any]) -> None:
        """Called for each event after it is recorded; subclasses react here."""

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def post(self, call: dict[str, Any], stream_id: str | None | bool = True, content_type: str = "application/json") -> tuple[int, str]:
        headers = {"Content-Type": content_type}
        sid = self.stream_id if stream_id is True else stream_id
        if sid:
            headers["Mesos-Stream-Id"] = sid
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        body = call if isinstance(call, (bytes, str)) else json.dumps({"framework_id": {"value": self.framework_id}, **call})
        conn.request("POST", "/api/v1/scheduler", body, headers)
        response = conn.getresponse()
        text = response.read().decode()
        conn.close()
        return response.status, text

    def wait(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20.0, after: int = 0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for event in self.events[after:]:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching event; got {[_brief(e) for e in self.events]}")
                self.cond.wait(left)

    def wait_event(self, kind: str, timeout: float = 20.0, after: int = 0) -> dict[str, Any]:
        return self.wait(lambda e: e["type"] == kind, timeout, after)

    def wait_update(self, task_id: str, state: str | None = None, timeout: float = 20.0) -> dict[str, Any]:
        event = self.wait(
            lambda e: e["type"] == "UPDATE" and e["update"]["status"]["task_id"]["value"] == task_id
            and (state is None or e["update"]["status"]["state"] == state),
            timeout,
        )
        return event["update"]["status"]

    def updates(self, task_id: str) -> list[dict[str, Any]]:
        with self.cond:
            return [e["update"]["status"] for e in self.events
                    if e["type"] == "UPDATE" and e["update"]["status"]["task_id"]["value"] == task_id]

    def acknowledge(self, status: dict[str, Any]) -> None:
        code, text = self.post({"type": "ACKNOWLEDGE", "acknowledge": {
            "agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": status["uuid"]}})
        assert code == 202, text

    def next_offer(self, after: int = 0) -> dict[str, Any]:
        return self.wait_event("OFFERS", after=after)["offers"]["offers"][0]


def task(task_id: str, offer: dict[str, Any], command: str = "true", resources: str = "cpus:0.1;mem:32", **extra: Any) -> dict[str, Any]:
    from corral.resources import Resources

    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": offer["agent_id"],
        "resources": Resources.parse(resources).to_json(),
        "command": {"value": command},
        **extra,
    }


def launch(offer_ids: list[dict[str, str]], tasks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "ACCEPT", "accept": {"offer_ids": offer_ids, "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}]}}


def _brief(event: dict[str, Any]) -> str:
    """An event's type, and for an update its task, state, reason and uuid (what a failed wait shows)."""
    if event.get("type") != "UPDATE":
        return event.get("type", "?")
    status = event["update"]["status"]
    return (f"UPDATE({status['task_id']['value']} {status['state']} {status.get('reason', '')} "
            f"{status.get('uuid', '')[:8]})")
