"""The agent's link to its master (agent/master_link.py): a call in flight to a master that stalled
does not hold back the calls to the next one."""

import asyncio
import json

from aiohttp import ClientSession, ClientTimeout, web

from corral.agent.master_link import MasterLink


class StubState:
    agent_id = "A-S0"

    def disconnected(self):
        pass


class StubSecurity:
    def master_scheme(self):
        return "http"

    def master_session(self, timeout):
        return ClientSession(timeout=timeout)


class StubAgent:
    flags = {"master": "127.0.0.1:1"}
    security = StubSecurity()
    state = StubState()


async def serve(handler):
    app = web.Application()
    app.router.add_post("/api/v1/agent", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"127.0.0.1:{runner.addresses[0][1]}"


def test_a_call_stuck_on_a_stalled_master_is_dropped_when_the_agent_leaves_it():
    async def scenario():
        stalled_got, woken = asyncio.Event(), asyncio.Event()
        leader_got: list = []
        leader_heard = asyncio.Event()

        async def stalled(request):  # a SIGSTOPped master: the connection is open, no answer comes
            stalled_got.set()
            await woken.wait()
            return web.Response(status=202)

        async def leader(request):
            leader_got.append(json.loads(await request.read()))
            leader_heard.set()
            return web.Response(status=202)

        runners = []
        try:
            for handler in (stalled, leader):
                runners.append(await serve(handler))
            link = MasterLink(StubAgent())
            link._session = link.agent.security.master_session(ClientTimeout(total=None, connect=5))
            link.connected, link.master_address, link.stream_id = True, runners[0][1], "s1"
            link.post({"type": "PONG"})
            await asyncio.wait_for(stalled_got.wait(), 30)

            link._disconnected()  # ZooKeeper named another leader
            link.connected, link.master_address, link.stream_id = True, runners[1][1], "s2"
            link.post({"type": "PONG"})
            await asyncio.wait_for(leader_heard.wait(), 30)
            assert leader_got == [{"type": "PONG"}]
            await link.close()
        finally:
            woken.set()
            for runner, _ in runners:
                await runner.cleanup()

    asyncio.run(scenario())
