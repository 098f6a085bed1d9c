"""Master failover time with 100 agents and a 2 s ZooKeeper session timeout.

Starts a real ZooKeeper, three `corral master --zk` processes and N simulated
agents (one asyncio process speaking the agent protocol, following the leader
through ZooKeeper as real agents do), kills the leading master with SIGKILL
and prints the time from the kill to (a) a new leader accepting a framework's
SUBSCRIBE and (b) every agent re-registered with it.  Repeats a few times.

Reference (not measured here): the Mesos paper reports 4-8 s to fail over
with ZooKeeper.  Target: under 3 s.

    python runtime/benchmarks/failover.py [--agents 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from simulated_agents import SimulatedCluster  # noqa: E402
from support.zookeeper import ZooKeeperEnsemble  # noqa: E402

from corral.leader.detector import detector_for  # noqa: E402
from corral.resources import Resources  # noqa: E402

SESSION_TIMEOUT = "2"
TOTAL = Resources.parse("cpus:2;mem:1024;disk:4096;ports:[31000-32000]")


async def subscribe_ok(session: aiohttp.ClientSession, address: str) -> bool:
    call = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "bench", "name": "probe", "failover_timeout": 0}}}
    try:
        async with session.post(f"http://{address}/api/v1/scheduler", json=call, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=2)) as response:
            if response.status != 200:
                return False
            chunk = await asyncio.wait_for(response.content.readany(), 2)
            return b"SUBSCRIBED" in chunk
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
        return False


async def leader_of(session: aiohttp.ClientSession, masters: list[tuple[subprocess.Popen, int]]) -> tuple[subprocess.Popen, int] | None:
    for proc, port in masters:
        if proc.poll() is not None:
            continue
        try:
            async with session.get(f"http://127.0.0.1:{port}/state", timeout=aiohttp.ClientTimeout(total=2)) as r:
                if (await r.json()).get("elected"):
                    return proc, port
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
            continue
    return None


def start_master(root: Path, zk_url: str, i: int) -> tuple[subprocess.Popen, int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(root / f"master-{i}-{port}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "corral.cli.main", "master", "--port", str(port), "--work_dir", str(root / f"m{i}"),
         "--zk", zk_url, "--zk_session_timeout", SESSION_TIMEOUT, "--agent_ping_timeout", "5"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    return proc, port


async def main_async(agents: int, rounds: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="corral-failover-"))
    zk = ZooKeeperEnsemble(root, size=1).start()
    zk_url = zk.url("/corral")
    masters = [start_master(root, zk_url, i) for i in range(3)]
    results = []
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            while await leader_of(session, masters) is None:
                await asyncio.sleep(0.1)
            detector = detector_for(zk_url, session_timeout=float(SESSION_TIMEOUT))
            cluster = SimulatedCluster(detector, agents, resources=TOTAL)
            await cluster.start()
            await asyncio.wait_for(asyncio.gather(*(a.registered.wait() for a in cluster.agents)), 60)
            for round_no in range(rounds):
                proc, port = await leader_of(session, masters)
                old = f"127.0.0.1:{port}"
                t0 = time.perf_counter()
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                subscribed_at = None
                while subscribed_at is None:
                    for other, other_port in masters:
                        if other.poll() is None and await subscribe_ok(session, f"127.0.0.1:{other_port}"):
                            subscribed_at = time.perf_counter()
                            break
                    else:
                        await asyncio.sleep(0.02)
                while cluster.registered < agents or cluster.registered_with(old):
                    await asyncio.sleep(0.02)
                all_at = time.perf_counter()
                results.append((subscribed_at - t0, all_at - t0))
                print(f"round {round_no + 1}: SUBSCRIBE accepted after {subscribed_at - t0:.2f} s, "
                      f"{agents} agents re-registered after {all_at - t0:.2f} s", flush=True)
                # Bring the killed master back as a standby for the next round.
                index = masters.index((proc, port))
                masters[index] = start_master(root, zk_url, index + 10 * (round_no + 1))
                await asyncio.sleep(1)
            await cluster.stop()
            await detector.close()
    finally:
        for proc, _ in masters:
            if proc.poll() is None:
                proc.kill()
        zk.stop()
    sub = [r[0] for r in results]
    reg = [r[1] for r in results]
    print(f"\nfailover with {agents} agents, ZooKeeper session timeout {SESSION_TIMEOUT} s, {rounds} rounds")
    print(f"  new leader accepts SUBSCRIBE   median {statistics.median(sub):.2f} s  (max {max(sub):.2f})")
    print(f"  all agents re-registered       median {statistics.median(reg):.2f} s  (max {max(reg):.2f})   target < 3 s")
    print("  reference: the Mesos paper reports 4-8 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main_async(args.agents, args.rounds))


if __name__ == "__main__":
    main()
