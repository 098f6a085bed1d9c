"""The agent's detected resources: GPUs listed by a stand-in nvidia-smi on PATH."""

import os
import stat

from corral.agent.resources import detect_gpus, total_resources
from corral.resources import Resources


def fake_nvidia_smi(tmp_path, monkeypatch, body):
    tool = tmp_path / "nvidia-smi"
    tool.write_text("#!/bin/sh\n" + body + "\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")


def test_gpus_listed_by_nvidia_smi_are_detected(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch, 'printf "0\\n1\\n"')
    assert detect_gpus() == 2
    assert total_resources(None, str(tmp_path / "work")).scalar("gpus") == 2
    # --resources gpus:N overrides what is detected, as for every resource.
    assert total_resources(Resources.parse("gpus:1"), str(tmp_path / "work")).scalar("gpus") == 1


def test_no_gpus_without_nvidia_smi_or_when_it_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert detect_gpus() == 0
    fake_nvidia_smi(tmp_path, monkeypatch, 'echo "NVIDIA-SMI has failed" >&2; exit 9')
    assert detect_gpus() == 0
