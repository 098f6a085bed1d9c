from corral.agent.status_updates import StatusUpdateManager
from support.fakes import FakeClock


def make():
    sent = []
    clock = FakeClock(0.0)
    sum_ = StatusUpdateManager(lambda u, latest: sent.append((u["status"]["uuid"], latest)), clock, retry_min=1, retry_max=4)
    return sum_, sent, clock


def up(uuid, state="TASK_RUNNING"):
    return {"framework_id": {"value": "f"}, "status": {"uuid": uuid, "state": state, "task_id": {"value": "t"}}}


def test_one_outstanding_update_per_task_in_order():
    s, sent, clock = make()
    s.resume()
    s.add("f", "t", up("a"))
    s.add("f", "t", up("b", "TASK_FINISHED"))
    assert sent == [("a", "TASK_RUNNING")]  # only the head is outstanding
    assert s.acknowledge("f", "t", "b") is None  # not the head: ignored
    assert s.acknowledge("f", "t", "a")["status"]["uuid"] == "a"
    assert sent[-1] == ("b", "TASK_FINISHED")
    s.acknowledge("f", "t", "b")
    assert len(s) == 0


def test_retries_back_off_and_pause_while_disconnected():
    s, sent, clock = make()
    s.resume()
    s.add("f", "t", up("a"))
    for step in (1, 2, 4, 4):
        clock.now += step - 0.01
        s.tick()
        before = len(sent)
        clock.now += 0.01
        s.tick()
        assert len(sent) == before + 1
    s.pause()
    clock.now += 100
    s.tick()
    count = len(sent)
    s.resume()
    assert len(sent) == count + 1


def test_duplicate_uuid_is_ignored_and_journal_sees_everything():
    events = []
    s = StatusUpdateManager(lambda u, l: None, FakeClock(0.0), journal=lambda f, t, kind, data: events.append(kind))
    assert s.add("f", "t", up("a"))
    assert not s.add("f", "t", up("a"))
    s.resume()
    s.acknowledge("f", "t", "a")
    assert events == ["update", "ack"]


def test_an_update_sent_again_after_its_acknowledgement_is_not_delivered_twice():
    s, sent, clock = make()
    s.resume()
    s.add("f", "t", up("a"))
    s.acknowledge("f", "t", "a")
    assert not s.add("f", "t", up("a"))  # (an executor that resent it after a lost answer)
    assert s.add("f", "t", up("b", "TASK_FINISHED"))
    assert sent == [("a", "TASK_RUNNING"), ("b", "TASK_FINISHED")]
