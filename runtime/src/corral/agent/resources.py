"""The agent's total resources: `--resources` plus what is detected."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess

import psutil

from corral.resources import Resources

logger = logging.getLogger(__name__)

DEFAULT_PORTS = "ports:[31000-32000]"


def detect_gpus() -> int:
    """NVIDIA GPUs as `nvidia-smi` lists them (0 without the tool). Only the listing is
    tested, with a stand-in nvidia-smi; no GPU has been seen by this code."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return 0
    try:
        out = subprocess.run([tool, "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        logger.warning("nvidia-smi is installed but cannot list GPUs (%s); offering none", exc)
        return 0
    return sum(1 for line in out.splitlines() if line.strip().isdigit())


def detect(work_dir: str) -> Resources:
    """cpus, mem (MB) and disk (MB) of this machine, leaving headroom for the system as Mesos does."""
    cpus = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    total_mb = psutil.virtual_memory().total / 2**20
    mem = total_mb - 1024 if total_mb >= 2048 else total_mb / 2
    os.makedirs(work_dir, exist_ok=True)
    disk_mb = shutil.disk_usage(work_dir).total / 2**20
    disk = disk_mb - 5 * 1024 if disk_mb >= 10 * 1024 else disk_mb / 2
    gpus = detect_gpus()
    return Resources.parse(f"cpus:{cpus};mem:{int(mem)};disk:{int(disk)};{DEFAULT_PORTS}" + (f";gpus:{gpus}" if gpus else ""))


def total_resources(given: Resources | None, work_dir: str) -> Resources:
    """`--resources` overrides detection per resource name (any reservation counts as given)."""
    given = given or Resources()
    detected = detect(work_dir)
    names = given.names()
    missing = Resources({key: amount for key, amount in detected.items() if key[0] not in names})
    return given + missing
