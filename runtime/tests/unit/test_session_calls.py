"""The agent API's nested-container calls as the Mesos CLI sends them, parsed (corral.agent.session_calls)."""

import base64

import pytest

from corral.agent.session_calls import NestedId, container_id, input_record, launch_session, output_record

PARENT = {"value": "c1"}


def call(body):
    return {"type": "ATTACH_CONTAINER_INPUT", "attach_container_input": body}


def test_the_mesos_cli_s_exec_call():
    launch = launch_session({"container_id": {"parent": PARENT, "value": "n1"},
                             "command": {"value": "ls", "arguments": ["ls", "-l"], "shell": False},
                             "container": {"type": "MESOS", "tty_info": {"window_size": {"rows": 24, "columns": 80}}}})
    assert launch.container == NestedId("n1", "c1") and launch.argv == ["ls", "-l"]
    assert launch.tty and launch.window == (24, 80) and launch.user is None


def test_a_shell_command_with_environment_and_no_terminal():
    launch = launch_session({"container_id": {"parent": PARENT, "value": "n1"},
                             "command": {"value": "echo $X", "environment": {"variables": [{"name": "X", "value": "1"}]}}})
    assert launch.argv == ["/bin/sh", "-c", "echo $X"] and launch.environment == {"X": "1"} and not launch.tty


@pytest.mark.parametrize("body, message", [
    ({"container_id": {"value": "n1"}, "command": {"value": "ls"}}, "must name its parent"),
    ({"container_id": {"parent": {"parent": PARENT, "value": "n0"}, "value": "n1"}, "command": {"value": "ls"}},
     "one level deep"),
    ({"container_id": {"parent": PARENT, "value": ""}, "command": {"value": "ls"}}, "non-empty 'value'"),
    ({"container_id": {"parent": PARENT, "value": "n1"}}, "'command' (a CommandInfo) is required"),
    ({"container_id": {"parent": PARENT, "value": "n1"}, "command": {"shell": False, "arguments": ["ls"]}},
     "(the program) is required"),
    ({"container_id": {"parent": PARENT, "value": "n1"}, "command": {"value": "ls"}, "container": {"type": "DOCKER"}},
     "of type MESOS, not DOCKER"),
    ({"container_id": {"parent": PARENT, "value": "n1"}, "command": {"value": "ls"},
      "container": {"tty_info": {"window_size": {"rows": "many"}}}}, "integer 'rows' and 'columns'"),
])
def test_bad_launches_name_the_problem(body, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        launch_session(body)


def test_input_records():
    first = input_record(call({"type": "CONTAINER_ID", "container_id": {"parent": PARENT, "value": "n1"}}))
    assert first.kind == "container_id" and first.container == NestedId("n1", "c1")
    data = input_record(call({"type": "PROCESS_IO", "process_io": {"type": "DATA", "data": {
        "type": "STDIN", "data": base64.b64encode(b"hi\n").decode()}}}))
    assert (data.kind, data.data) == ("stdin", b"hi\n")
    eof = input_record(call({"type": "PROCESS_IO", "process_io": {"type": "DATA", "data": {"type": "STDIN", "data": ""}}}))
    assert (eof.kind, eof.data) == ("stdin", b"")
    beat = {"type": "HEARTBEAT", "heartbeat": {"interval": {"nanoseconds": 30000000000}}}
    assert input_record(call({"type": "PROCESS_IO", "process_io": {"type": "CONTROL", "control": beat}})).kind == "heartbeat"
    size = {"type": "TTY_INFO", "tty_info": {"window_size": {"rows": 40, "columns": 120}}}
    assert input_record(call({"type": "PROCESS_IO", "process_io": {"type": "CONTROL", "control": size}})).window == (40, 120)
    with pytest.raises(ValueError, match="must be base64"):
        input_record(call({"type": "PROCESS_IO", "process_io": {"type": "DATA", "data": {"type": "STDIN", "data": "!!"}}}))
    with pytest.raises(ValueError, match="must be of type STDIN"):
        input_record(call({"type": "PROCESS_IO", "process_io": {"type": "DATA", "data": {"type": "STDOUT", "data": ""}}}))
    with pytest.raises(ValueError, match="ATTACH_CONTAINER_INPUT call"):
        input_record({"type": "GET_HEALTH"})


def test_output_records_are_process_io_data():
    assert output_record("STDERR", b"x") == {"type": "DATA", "data": {"type": "STDERR", "data": "eA=="}}
    assert container_id({"value": "c1"}) == NestedId("c1", None)
