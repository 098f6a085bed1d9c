"""A real ZooKeeper ensemble on 127.0.0.1 for tests (Debian's zookeeper package).

    zk = ZooKeeperEnsemble(tmp_path, size=3).start()
    zk.url("/corral")        # zk://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/corral
    zk.stop_server(0); zk.start_server(0)
    zk.stop()
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from support.cluster import free_ports

CLASSPATH = ":".join(
    p for p in ("/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-api.jar", "/usr/share/java/slf4j-jdk14.jar")
)
MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"


def four_letter(port: int, word: str = "ruok", timeout: float = 1.0) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(word.encode())
        chunks = []
        while True:
            data = sock.recv(4096)
            if not data:
                return b"".join(chunks).decode()
            chunks.append(data)


class ZooKeeperEnsemble:
    def __init__(self, root: Path, size: int = 1, tick_ms: int = 200) -> None:
        if not os.path.exists("/usr/share/java/zookeeper.jar"):
            raise RuntimeError("ZooKeeper is not installed (Debian package 'zookeeper'; scripts/setup.sh installs it)")
        self.root = Path(root) / "zookeeper"
        self.size = size
        self.tick_ms = tick_ms
        ports = free_ports(3 * size)
        self.client_ports = ports[:size]
        self.peer_ports = ports[size : 2 * size]
        self.election_ports = ports[2 * size :]
        self.procs: list[subprocess.Popen | None] = [None] * size

    @property
    def hosts(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.client_ports)

    def url(self, path: str = "/corral") -> str:
        return f"zk://{self.hosts}{path}"

    def _config(self, i: int) -> Path:
        data = self.root / f"server{i}"
        data.mkdir(parents=True, exist_ok=True)
        (data / "myid").write_text(f"{i + 1}\n")
        lines = [
            f"tickTime={self.tick_ms}",
            "initLimit=20",
            "syncLimit=10",
            f"dataDir={data}",
            f"clientPort={self.client_ports[i]}",
            "clientPortAddress=127.0.0.1",
            "4lw.commands.whitelist=ruok,srvr,stat,mntr",
            "admin.enableServer=false",
            "maxSessionTimeout=60000",
            f"minSessionTimeout={2 * self.tick_ms}",
        ]
        if self.size > 1:
            for j in range(self.size):
                lines.append(f"server.{j + 1}=127.0.0.1:{self.peer_ports[j]}:{self.election_ports[j]}")
        cfg = data / "zoo.cfg"
        cfg.write_text("\n".join(lines) + "\n")
        return cfg

    def start_server(self, i: int) -> None:
        cfg = self._config(i)
        log = open(self.root / f"server{i}.log", "ab")
        self.procs[i] = subprocess.Popen(
            ["java", "-Xmx128m", "-cp", CLASSPATH, MAIN, str(cfg)], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()

    def stop_server(self, i: int) -> None:
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs[i] = None

    def serving(self, i: int) -> bool:
        try:
            return "Mode:" in four_letter(self.client_ports[i], "srvr")
        except OSError:
            return False

    def wait_serving(self, indices: list[int] | None = None, timeout: float = 60.0) -> None:
        indices = list(range(self.size)) if indices is None else indices
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.serving(i) for i in indices):
                return
            time.sleep(0.1)
        raise RuntimeError(f"ZooKeeper servers {indices} did not start; see {self.root}/server*.log")

    def start(self) -> "ZooKeeperEnsemble":
        for i in range(self.size):
            self.start_server(i)
        self.wait_serving()
        return self

    def stop(self) -> None:
        for i in range(self.size):
            self.stop_server(i)
