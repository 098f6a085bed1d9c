"""The ZooKeeper registry answers `flush` only once its writes are committed (master/registry.py)."""

import asyncio
import threading

import pytest

from corral.master.registry import RegistryError, ZooKeeperRegistry


class LaterResult:
    """kazoo's IAsyncResult, completed by the test on another thread."""

    def __init__(self):
        self.callbacks, self.error = [], None

    def rawlink(self, callback):
        self.callbacks.append(callback)

    def get(self):
        if self.error:
            raise self.error
        return "/path"

    def complete(self, error=None):
        self.error = error
        for callback in self.callbacks:
            callback(self)


class SlowClient:
    def __init__(self):
        self.results = []

    def create_async(self, path, value, makepath=False):
        self.results.append(LaterResult())
        return self.results[-1]

    delete_async = set_async = None


def test_flush_waits_for_the_write_and_names_a_failure():
    client = SlowClient()
    registry = ZooKeeperRegistry(client, "/r")

    async def scenario():
        registry.set_quotas({"dev": {"role": "dev"}})
        flushing = asyncio.ensure_future(registry.flush(timeout=5))
        await asyncio.sleep(0.05)
        assert not flushing.done()  # not before ZooKeeper confirms
        threading.Thread(target=client.results[0].complete).start()
        await flushing
        registry.set_weights({"dev": 2.0})
        client.results[1].complete(RuntimeError("connection loss"))
        with pytest.raises(RegistryError, match="the registry write of /r/weights failed: connection loss"):
            await registry.flush(timeout=5)
        registry.set_weights({"dev": 3.0})
        with pytest.raises(RegistryError, match="not confirmed within 0.1 s"):
            await registry.flush(timeout=0.1)

    asyncio.run(scenario())
