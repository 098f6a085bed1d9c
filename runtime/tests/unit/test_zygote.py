"""The zygote outlives the agent that started it, for the command tasks it reaps: their exit
files are how a restarted agent learns how they ended."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def zygote() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "corral.agent.zygote"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def spawn_request(tmp_path, exit_file) -> bytes:
    request = {"id": 1, "argv": ["/bin/sh", "-c", "sleep 0.3; exit 3"], "env": {"PATH": os.defpath}, "cwd": str(tmp_path),
               "stdout": str(tmp_path / "stdout"), "stderr": str(tmp_path / "stderr"), "cgroups": [],
               "exit_file": str(exit_file)}
    return json.dumps(request).encode() + b"\n"


def wait_exit(proc: subprocess.Popen) -> int:
    try:
        return proc.wait(10)
    finally:
        proc.kill()


def test_the_agent_gone_after_the_request_the_task_still_gets_its_exit_file(tmp_path):
    proc = zygote()
    proc.stdin.write(spawn_request(tmp_path, tmp_path / "exit"))
    proc.stdin.close()  # the agent is gone (EOF) once the request is in
    assert proc.stdout.readline()  # (its pid)
    assert wait_exit(proc) == 0
    assert os.waitstatus_to_exitcode(int((tmp_path / "exit").read_text())) == 3


def test_the_agent_gone_before_the_answer_the_task_still_gets_its_exit_file(tmp_path):
    proc = zygote()
    proc.stdout.close()  # the agent died: the zygote's answer meets a broken pipe
    proc.stdin.write(spawn_request(tmp_path, tmp_path / "exit"))
    proc.stdin.flush()
    time.sleep(0.1)
    proc.stdin.close()
    assert wait_exit(proc) == 0
    assert os.waitstatus_to_exitcode(int((tmp_path / "exit").read_text())) == 3
