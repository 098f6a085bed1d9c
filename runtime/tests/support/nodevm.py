"""A node as a QEMU virtual machine: the node image's disk (images/build-vm-disk.sh), its
kernel and initrd, 1 vCPU, 1 GiB. KVM opens on these machines but runs no guest, so the
guest runs under TCG (a Debian 12 with systemd reaches sshd in ~25-45 s).

Networking is QEMU's user mode with `restrict=on`: the guest reaches nothing, neither the
host's networks nor the outside; the host reaches the guest only through the ports
forwarded from 127.0.0.1 (`hostfwd`), so no packet to the node leaves through a route."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from support.cluster import free_port, http_json, wait_for

IMAGE_ARTIFACTS = os.environ.get("CORRAL_NODE_ARTIFACTS", "/var/cache/corral/images")
PIDS = Path("/var/tmp/corral-vms")

GUEST_IP = "10.0.2.15"  # the guest's address on QEMU's user-mode network (its DHCP gives it)
SSH_OPTIONS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "-o", "ConnectTimeout=10", "-o", "BatchMode=yes"]


class NodeVM:
    def __init__(self, workdir: Path, disk: Path, key: Path, forwards: dict[str, int]) -> None:
        self.workdir, self.disk, self.key = workdir, disk, key
        self.ssh_port = free_port()
        # name -> (host port on 127.0.0.1, guest port)
        self.ports = {name: free_port() for name in forwards}
        self.forwards = forwards
        self.console = workdir / "console.log"
        self.proc: subprocess.Popen | None = None

    def boot(self, timeout: float = 240) -> None:
        fwd = [f"hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22"] + [
            f"hostfwd=tcp:127.0.0.1:{self.ports[n]}-:{guest}" for n, guest in self.forwards.items()]
        cmd = ["qemu-system-x86_64", "-name", "corral-node-vm", "-accel", "tcg", "-m", "1024", "-smp", "1", "-nographic", "-no-reboot",
               "-kernel", f"{IMAGE_ARTIFACTS}/corral-node.vmlinuz", "-initrd", f"{IMAGE_ARTIFACTS}/corral-node.initrd",
               "-append", "root=/dev/vda rw console=ttyS0 panic=-1",
               "-drive", f"file={self.disk},if=virtio,format=raw",
               "-netdev", "user,id=n0,restrict=on," + ",".join(fwd), "-device", "virtio-net-pci,netdev=n0"]
        with open(self.console, "wb") as console:
            self.proc = subprocess.Popen(cmd, stdout=console, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        # Recorded where scripts/clean.sh finds it, should this test run be killed.
        PIDS.mkdir(parents=True, exist_ok=True)
        (PIDS / f"{self.proc.pid}.pid").write_text(str(self.proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"qemu exited with {self.proc.returncode}:\n{self.console_tail()}")
            if self.ssh("true", check=False, timeout=30).returncode == 0:
                return
            time.sleep(2)  # sshd is not up yet: nothing to wait on but a retry
        raise AssertionError(f"the VM's sshd did not answer within {timeout:.0f}s:\n{self.console_tail()}")

    def ssh(self, command: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run(["ssh", *SSH_OPTIONS, "-i", str(self.key), "-p", str(self.ssh_port), "root@127.0.0.1",
                               command], capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"in the VM: {command}\nexit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def console_tail(self, lines: int = 40) -> str:
        return "\n".join(self.console.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        (PIDS / f"{self.proc.pid}.pid").unlink(missing_ok=True)


AGENT_UNIT = ["-p", "Delegate=yes", "-p", "KillMode=process"]  # as the corral_agent role's unit


def start_corral(vm: NodeVM, *agent_flags: str) -> str:
    """A master and an agent in the VM as transient systemd units, the agent's with the
    corral_agent role's settings; the master's address on this host (forwarded as "master")."""
    corral = "/opt/corral/venv/bin/corral"
    # The master listens on the guest's address, where QEMU forwards the host's port to.
    vm.ssh(f"systemd-run --unit corral-master {corral} master --ip {GUEST_IP} --port 5050 --work_dir /var/lib/corral/master")
    vm.ssh(f"systemd-run --unit corral-agent {' '.join(AGENT_UNIT)} {corral} agent --master {GUEST_IP}:5050 "
           f"--ip 127.0.0.1 --port 5051 --work_dir /var/lib/corral/agent {' '.join(agent_flags)}")
    address = f"127.0.0.1:{vm.ports['master']}"
    wait_for(lambda: _agents_active(address), timeout=180, what="the agent in the VM to register")
    return address


def _agents_active(address: str) -> bool:
    try:
        return any(a["active"] for a in http_json(f"http://{address}/state")["slaves"])
    except OSError:  # the master is still starting
        return False
