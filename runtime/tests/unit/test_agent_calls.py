"""The agent's calls to the master, one or a burst of them in a JSON list (agent/master_link.py)."""

from __future__ import annotations

import json

import pytest

from corral.protocol.agent import decode_agent_calls
from corral.protocol.messages import ProtocolError

UPDATE = {"type": "UPDATE", "update": {"framework_id": {"value": "F"}, "status": {"task_id": {"value": "t"}, "state": "TASK_RUNNING"}}}


def test_one_call_or_a_list_of_them_in_order():
    assert [c.type for c in decode_agent_calls(json.dumps({"type": "PONG"}).encode())] == ["PONG"]
    calls = decode_agent_calls(json.dumps([UPDATE, {"type": "PONG"}, UPDATE]).encode())
    assert [c.type for c in calls] == ["UPDATE", "PONG", "UPDATE"]
    assert calls[0].update.status["state"] == "TASK_RUNNING"


@pytest.mark.parametrize(("body", "error"), [
    ([], "Empty list of agent calls"),
    ([UPDATE, {"type": "REGISTER", "register": {"agent_info": {}, "resources": []}}], "REGISTER comes alone"),
    ([UPDATE, {"type": "NAP"}], "Unknown agent call type 'NAP'"),
    ([{"type": "UPDATE"}], "Expecting 'update' to be present"),
])
def test_a_list_with_a_wrong_call_is_refused_whole_naming_it(body, error):
    with pytest.raises(ProtocolError, match=error):
        decode_agent_calls(json.dumps(body).encode())
