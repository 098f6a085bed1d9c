"""Persistent volumes, pure: the DiskInfo in Resources, CREATE and DESTROY, and the agent's layout."""

import re

import pytest

from corral.agent import volumes
from corral.executor import image_run
from corral.master import reservations
from corral.resources import ResourceError, Resources, checkpointed_part, with_checkpointed

DISK = {"name": "disk", "type": "SCALAR", "scalar": {"value": 64}, "reservations": [{"type": "DYNAMIC", "role": "db"}]}


def volume(size=64, pid="data", principal=None, **disk):
    persistence = {"id": pid, **({"principal": principal} if principal else {})}
    info = {"persistence": persistence, "volume": {"container_path": pid, "mode": "RW"}, **disk}
    return Resources.from_json([dict(DISK, scalar={"value": size}, disk=info)])


def test_a_volume_round_trips_and_is_kept_apart_from_its_disk():
    v = volume()
    out = v.to_json(refinement=True)
    assert out[0]["disk"] == {"persistence": {"id": "data"}, "volume": {"container_path": "data", "mode": "RW"}}
    assert Resources.from_json(out) == v
    plain = Resources.from_json([DISK])
    both = v + plain
    assert both.scalar("disk") == 128 and both.volumes() == v
    assert v.without_volumes() == plain
    assert "[data:data]" in v.to_text()


def test_a_volume_is_contained_only_whole():
    assert volume(64).contains(volume(64))
    assert not volume(64).contains(volume(32))
    assert not volume(64, "data").contains(volume(64, "other"))


@pytest.mark.parametrize("disk, message", [
    ({}, "DiskInfo is set but empty"),
    ({"volume": {"container_path": "x", "mode": "RW"}}, "Non-persistent volume not supported"),
    ({"persistence": {"id": "x"}}, "Expecting 'volume' to be set for persistent volume"),
    ({"persistence": {"id": "x"}, "volume": {"container_path": "x", "host_path": "/x", "mode": "RW"}}, "'host_path' to be unset"),
    ({"persistence": {"id": "a/b"}, "volume": {"container_path": "x", "mode": "RW"}}, "Invalid persistence ID"),
    ({"persistence": {"id": "x"}, "volume": {"container_path": "/abs", "mode": "RW"}}, "a relative path inside the sandbox"),
    ({"persistence": {"id": "x"}, "volume": {"container_path": "../up", "mode": "RW"}}, "a relative path inside the sandbox"),
    ({"source": {"type": "MOUNT"}}, "disk sources"),
])
def test_bad_disk_infos_are_named(disk, message):
    with pytest.raises(ResourceError, match=re.escape(message)):
        Resources.from_json([dict(DISK, disk=disk)])


def test_volumes_need_reserved_disk():
    unreserved = {"name": "disk", "type": "SCALAR", "scalar": {"value": 1},
                  "disk": {"persistence": {"id": "x"}, "volume": {"container_path": "x", "mode": "RW"}}}
    with pytest.raises(ResourceError, match="cannot be created from unreserved resources"):
        Resources.from_json([unreserved])
    with pytest.raises(ResourceError, match="DiskInfo is set on a 'cpus' resource"):
        Resources.from_json([dict(DISK, name="cpus", disk={})])


def test_create_and_destroy_convert_reserved_disk_and_back():
    have = Resources.from_json([dict(DISK, scalar={"value": 100})])
    source, created = reservations.create(volume(), have, have, None)
    assert (source, created) == (Resources.from_json([DISK]), volume())
    left = have - source + created
    assert left.volumes() == volume() and left.scalar("disk") == 100
    assert reservations.destroy(volume(), left) == (volume(), Resources.from_json([DISK]))


def test_create_and_destroy_errors_are_mesos_s():
    have = Resources.from_json([dict(DISK, scalar={"value": 100})])
    with pytest.raises(ValueError, match="Persistence ID 'data' is not unique"):
        reservations.create(volume(), have, have + volume(), None)
    with pytest.raises(ValueError, match="is not available"):
        reservations.create(volume(200), have, have, None)
    with pytest.raises(ValueError, match="attempted by principal 'ops'.*principal ''"):
        reservations.create(volume(), have, have, "ops")
    assert reservations.create(volume(principal="ops"), have, have, "ops")[1] == volume(principal="ops")
    with pytest.raises(ValueError, match="has no 'disk.persistence'"):
        reservations.create(Resources.from_json([DISK]), have, have, None)
    with pytest.raises(ValueError, match="Persistent volumes not found"):
        reservations.destroy(volume(), have)
    with pytest.raises(ValueError, match="'persistence' is not set in DiskInfo"):
        reservations.destroy(Resources.from_json([DISK]), have)
    with pytest.raises(ValueError, match="destroy the persistent volume first"):
        reservations.unreserve(volume(), volume())


def test_an_agent_checkpoints_volumes_and_keeps_them_over_its_flags():
    flags = Resources.parse("cpus:2;disk:100")
    total = with_checkpointed(flags, volume())
    assert total.volumes() == volume() and total.scalar("disk") == 100
    assert checkpointed_part(total) == volume()
    assert checkpointed_part(Resources.parse("cpus(db):1")).is_empty()  # static reservations come from the flags


def test_the_agent_s_volume_layout_and_changes():
    assert volumes.volume_path("/w", "db", "data") == "/w/volumes/roles/db/data"
    create, delete = volumes.changes("/w", volume(pid="old"), volume(pid="new"))
    assert (create, delete) == (["/w/volumes/roles/db/new"], ["/w/volumes/roles/db/old"])
    assert volumes.links("/s", "/w", volume() + Resources.parse("cpus:1")) == [("/s/data", "/w/volumes/roles/db/data")]


def test_an_image_container_gets_its_volume_mounted_in_the_sandbox():
    task = {"container": {"type": "DOCKER", "docker": {"image": "img"}}, "resources": volume().to_json(), "command": {"value": "true"}}
    assert image_run.persistent_volume_paths(task) == ["data"]
    argv = image_run.run_argv(task, "podman", "n", "c", "/s", {}, [("/w/volumes/roles/db/data", "data")])
    assert "/w/volumes/roles/db/data:/mnt/mesos/sandbox/data:rw" in argv
