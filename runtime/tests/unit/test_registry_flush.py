"""The registries answer `flush` only once their writes are committed (master/registry.py); the file
registry writes a burst of changes once."""

import asyncio
import json
import os
import threading

import pytest

from corral.master.registry import FileRegistry, RegistryError, ZooKeeperRegistry


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


def test_the_file_registry_writes_a_burst_of_changes_once(tmp_path, monkeypatch):
    path = tmp_path / "registry.json"
    registry = FileRegistry(str(path))
    writes = []
    replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (writes.append(dst), replace(src, dst)))

    async def scenario():
        for i in range(1000):  # (as thousands of agents registering at once)
            registry.admit_agent(f"a{i}", {"hostname": f"h{i}"})
        assert not path.exists()  # not yet: the burst is written once
        await asyncio.sleep(FileRegistry.WRITE_DELAY * 2)
        assert len(writes) == 1 and len(json.loads(path.read_text())["agents"]) == 1000
        registry.set_weights({"dev": 2.0})
        await registry.flush()  # an operator's call is answered only once it is written
        assert len(writes) == 2 and json.loads(path.read_text())["weights"] == {"dev": 2.0}
        await asyncio.sleep(FileRegistry.WRITE_DELAY * 2)
        assert len(writes) == 2  # (flush took the pending write's place)

    asyncio.run(scenario())
    assert FileRegistry(str(path)).load().agents["a999"] == {"hostname": "h999"}
    registry.mark_gone("a0")  # outside an event loop: written at once
    assert len(writes) == 3 and "a0" in json.loads(path.read_text())["gone"]


def test_a_failed_file_write_is_named_by_flush_and_tried_again(tmp_path, monkeypatch):
    path = tmp_path / "registry.json"
    registry = FileRegistry(str(path))
    replace = os.replace

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    async def scenario():
        monkeypatch.setattr(os, "replace", full_disk)
        registry.set_quotas({"dev": {"role": "dev"}})
        with pytest.raises(RegistryError, match=f"the registry write of {path} failed: .*No space left on device"):
            await registry.flush()
        monkeypatch.setattr(os, "replace", replace)
        await registry.flush()  # written now, with nothing changed since
        assert json.loads(path.read_text())["quotas"] == {"dev": {"role": "dev"}}

    asyncio.run(scenario())
