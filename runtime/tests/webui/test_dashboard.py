"""The dashboard in a real headless Chromium against a real `corral local` cluster running tasks:
agents, frameworks, tasks and a task's stdout appear, and update without a reload."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from support import opskit
from support.browser_kit import LocalCluster, shot, wait_text

pytestmark = pytest.mark.integration

TICKER = "for i in $(seq 1 600); do echo tick-$i; echo err-$i >&2; sleep 0.2; done"
TICKER_MEM = 48


@pytest.fixture
def local(tmp_path):
    cluster = LocalCluster(tmp_path).start(agents=2)
    yield cluster
    cluster.stop()
    print(cluster.logs())


def count(text: str) -> int:
    return int(re.sub(r"[^0-9]", "", text) or -1)


def test_dashboard_shows_the_cluster_and_follows_it_live(local, page, request):
    name = request.node.name
    local.run("ticker", TICKER, "--resources", f"cpus:0.1;mem:{TICKER_MEM}")
    page.goto(local.url + "/")
    page.evaluate("window.__sameDocument = true")  # any reload would lose this
    wait_text(page, "[data-testid=connection]", lambda t: t == "live", what="the live event stream")
    wait_text(page, "[data-testid=agents-count]", lambda t: count(t) == 2, what="2 agents")
    wait_text(page, "[data-testid=frameworks-count]", lambda t: count(t) == 1, what="the ticker framework")
    wait_text(page, "[data-testid=tasks-live]", lambda t: count(t) == 1, what="the ticker task")
    wait_text(page, "[data-testid=total-cpus]", lambda t: t == "6", what="6 cpus in total (2 reserved to 'ads')")
    wait_text(page, "[data-testid=allocated-cpus]", lambda t: t != "0", what="allocated cpus")
    assert "127.0.0.1" in page.locator("[data-testid=leading-master]").inner_text()
    assert page.locator("[data-testid=roles-table] tr[data-role='*']").count() == 1
    shot(page, name, "1-overview")

    # Agents, with their attributes.
    page.click("nav a[data-nav=agents]")
    rows = page.locator("[data-testid=agents-table] tbody tr")
    rows.first.wait_for()
    assert rows.count() == 2
    assert "rack:r1" in page.locator("[data-testid=agents-table]").inner_text()
    shot(page, name, "2-agents")
    page.locator("[data-testid=agents-table] tbody tr a").first.click()
    page.locator("[data-testid=agent-resources]").wait_for()
    assert "cpus" in page.locator("[data-testid=agent-resources]").inner_text()
    reservations = page.locator("[data-testid=reservations]").inner_text()
    assert "ads" in reservations and "cpus: 1" in reservations and "STATIC" in reservations
    assert "rack" in page.locator("[data-testid=agent-attributes]").inner_text()
    shot(page, name, "3-agent")

    # Frameworks.
    page.click("nav a[data-nav=frameworks]")
    page.locator("[data-testid=frameworks-table] tbody tr").first.wait_for()
    assert "ticker" in page.locator("[data-testid=frameworks-table]").inner_text()
    shot(page, name, "4-frameworks")

    # Tasks, then the ticker's sandbox: stdout follows live output, stderr is one click away.
    page.click("nav a[data-nav=tasks]")
    row = page.locator("[data-testid=tasks-table] tbody tr[data-task-state=TASK_RUNNING]")
    row.first.wait_for()
    assert row.count() == 1
    shot(page, name, "5-tasks")
    row.locator("a", has_text="sandbox").click()
    log = "[data-testid=log]"
    first = wait_text(page, log, lambda t: "tick-3" in t, what="the task's stdout")
    assert first.startswith("tick-1\n")
    wait_text(page, log, lambda t: "tick-12" in t, what="new stdout lines to follow in")
    assert page.locator("[data-testid=files-table]").inner_text().count("stdout") == 1
    shot(page, name, "6-task-stdout")
    # What its container uses, from the agent's /monitor/statistics: the limit is the task's
    # memory plus the command executor's 32 MB allowance.
    usage = wait_text(page, "[data-testid=task-usage]", lambda t: "Memory" in t, what="the task's usage")
    assert f"of {TICKER_MEM + 32:.1f} MB" in usage and "cpus" in usage, usage
    page.click("[data-testid=tab-stderr]")
    wait_text(page, log, lambda t: "err-1\n" in t and "tick" not in t, what="the task's stderr")
    shot(page, name, "7-task-stderr")

    # Back on the overview, the cluster changes under the page: a new agent, a new framework whose task finishes.
    page.click("nav a[data-nav=overview]")
    local.add_agent("agent-extra")
    wait_text(page, "[data-testid=agents-count]", lambda t: count(t) == 3, what="the third agent")
    local.run("once", "echo hello-once")
    page.click("nav a[data-nav=tasks]")
    page.select_option("[data-testid=task-state-filter]", "all")
    wait_text(page, "[data-testid=tasks-table]", lambda t: "once" in t and "FINISHED" in t, what="the short task to finish")
    shot(page, name, "8-tasks-all")
    page.click("nav a[data-nav=frameworks]")  # `corral run` leaves when its task is done
    wait_text(page, "[data-testid=completed-frameworks-table]", lambda t: "once" in t, what="the finished framework")
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"


def test_dashboard_asks_for_credentials_and_works_with_them(tmp_path, browser, request):
    creds = opskit.write_credentials(tmp_path / "secrets")
    cluster = opskit.SecureCluster(tmp_path).secure(auth=opskit.basic("ops"))
    try:
        cluster.start_master("--authenticate_http_readonly", "true", "--authenticate_http_readwrite", "true",
                             "--credentials", str(creds["credentials"]))
        cluster.add_agent("cpus:2;mem:1024;disk:1024")
        sched = opskit.AuthScheduler(cluster.master.address, {"user": "root", "name": "secured"}).subscribe()
        offer = sched.next_offer()
        assert sched.post(opskit.launch([offer["id"]], [opskit.task("secured-ticker", offer, TICKER)]))[0] == 202
        sched.wait_update("secured-ticker", "TASK_RUNNING")
        anonymous = browser.new_context()
        with pytest.raises(Exception, match="ERR_INVALID_AUTH_CREDENTIALS"):  # headless: no one to type a password
            anonymous.new_page().goto(cluster.url + "/")
        response = anonymous.request.get(cluster.url + "/")
        assert response.status == 401 and response.headers["www-authenticate"].startswith("Basic")
        anonymous.close()
        context = browser.new_context(viewport={"width": 1366, "height": 768},
                                      http_credentials={"username": "viewer", "password": opskit.PRINCIPALS["viewer"]})
        pg = context.new_page()
        pg.goto(cluster.url + "/#/tasks")
        pg.locator("[data-testid=tasks-table] tbody tr[data-task-state=TASK_RUNNING] a", has_text="sandbox").first.click()
        wait_text(pg, "[data-testid=log]", lambda t: "tick-2" in t, what="stdout through the authenticated master")
        wait_text(pg, "[data-testid=connection]", lambda t: t == "live", what="the authenticated event stream")
        shot(pg, request.node.name, "authenticated-task")
        context.close()
        sched.close()
    finally:
        cluster.stop()
        print(cluster.logs())


def test_dashboard_shows_quota_deactivated_agents_and_why_a_framework_waits(local, page, request):
    """Issue 13: quota per role, an agent's operator state, and a framework's why-not reasons."""
    name = request.node.name
    cli = [sys.executable, "-m", "corral.cli.main"]
    subprocess.run([*cli, "quota", "dev", "--limits", "cpus:0.5", "--master", local.master], check=True, capture_output=True)
    agent_id = opskit.request("GET", local.url + "/state").json()["slaves"][0]["id"]
    subprocess.run([*cli, "agent", "deactivate", agent_id, "--master", local.master], check=True, capture_output=True)
    local.run("capped", "sleep 300", "--role", "dev", "--resources", "cpus:0.5;mem:32", "--count", "2")
    page.goto(local.url + "/#/roles")
    quota = wait_text(page, "tr[data-role=dev] [data-testid=role-quota]", lambda t: "consumed" in t, what="dev's quota")
    assert "limit cpus: 0.5" in quota and "consumed cpus: 0.5" in quota, quota
    # Reservations per role: each of the two agents holds cpus(ads):1.
    assert page.locator("tr[data-role=ads] [data-testid=role-reserved]").inner_text() == "cpus: 2"
    shot(page, name, "1-roles")
    window = {"machine_ids": [{"hostname": "127.0.0.1"}], "unavailability": {"start": {"nanoseconds": 2 * 10**18}}}
    assert opskit.operator(local.url, {"type": "UPDATE_MAINTENANCE_SCHEDULE",
                                       "update_maintenance_schedule": {"schedule": {"windows": [window]}}}).status == 200
    page.goto(local.url + f"/#/agents/{agent_id}")
    assert wait_text(page, "[data-testid=agent-mode]", lambda t: "deactivated" in t, what="the agent's mode") == "no (deactivated)"
    wait_text(page, "[data-testid=agent-maintenance]", lambda t: t.startswith("draining for maintenance"), what="the maintenance window")
    page.click("nav a[data-nav=frameworks]")
    page.locator("[data-testid=frameworks-table] tbody tr a").first.click()
    why = wait_text(page, "[data-testid=why-offers]", lambda t: "QUOTA_LIMIT" in t, what="the framework's why-not reasons")
    assert "AGENT_DEACTIVATED" in why and "of its limit cpus:0.5" in why, why
    shot(page, name, "2-why")
