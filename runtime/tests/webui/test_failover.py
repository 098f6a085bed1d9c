"""After a master failover the open dashboard moves to the new leader by itself (real ZooKeeper,
two masters, headless Chromium)."""

from __future__ import annotations

import signal
from urllib.parse import urlparse

import pytest

from support import opskit
from support.browser_kit import reap, shot, wait_text
from support.zookeeper import ZooKeeperEnsemble

pytestmark = pytest.mark.integration


def leading(master) -> bool:
    try:
        return opskit.request("GET", f"http://{master.address}/webui/leader", timeout=2).json()["leading"]
    except OSError:
        return False


def test_dashboard_follows_the_new_leader(tmp_path, page, request):
    try:
        zk = ZooKeeperEnsemble(tmp_path, size=1).start()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    cluster = opskit.SecureCluster(tmp_path)
    try:
        url = zk.url("/corral")
        masters = []
        for i in range(2):
            port = opskit.free_port()
            args = ["--ip", "127.0.0.1", "--port", str(port), "--work_dir", str(tmp_path / f"master-{i}"), "--zk", url,
                    "--zk_session_timeout", "2", "--agent_ping_timeout", "0.5", "--max_agent_ping_timeouts", "6",
                    "--allocation_interval", "0.2", "--heartbeat_interval", "1"]
            masters.append(opskit.Daemon("master", args, tmp_path / f"master-{i}.log", port).start())
            cluster.daemons.append(masters[-1])
        leader = opskit.wait_for(lambda: next((m for m in masters if leading(m)), None), timeout=60, what="a leader")
        standby = next(m for m in masters if m is not leader)
        opskit.wait_for(lambda: opskit.request("GET", f"http://{standby.address}/webui/leader").json()["leader"], what="the standby to know the leader")
        port = opskit.free_port()
        agent = opskit.Daemon("agent", ["--master", url, "--ip", "127.0.0.1", "--port", str(port), "--work_dir", str(tmp_path / "agent"),
                                        "--resources", "cpus:2;mem:1024;disk:0", "--registration_backoff", "0.5"], tmp_path / "agent.log", port).start()
        cluster.daemons.append(agent)

        # Opened on the standby, the page goes to the leader.
        page.goto(f"http://{standby.address}/")
        page.wait_for_url(lambda u: urlparse(u).port == leader.port, timeout=30_000)
        wait_text(page, "[data-testid=agents-count]", lambda t: t.strip() == "1", what="the agent on the leader's dashboard")
        wait_text(page, "[data-testid=connection]", lambda t: t == "live", what="the live stream")
        assert str(leader.port) in page.locator("[data-testid=leader]").inner_text()
        shot(page, request.node.name, "1-on-the-leader")

        # The leader dies; the page finds the new leader and carries on there.
        leader.kill(signal.SIGKILL)
        page.wait_for_url(lambda u: urlparse(u).port == standby.port, timeout=60_000)
        wait_text(page, "[data-testid=connection]", lambda t: t == "live", timeout=60, what="the stream from the new leader")
        wait_text(page, "[data-testid=agents-count]", lambda t: t.strip() == "1", timeout=60, what="the agent to re-register")
        assert str(standby.port) in page.locator("[data-testid=leader]").inner_text()
        shot(page, request.node.name, "2-after-failover")
    finally:
        cluster.stop()
        zk.stop()
        reap(tmp_path)
        print(cluster.logs())
