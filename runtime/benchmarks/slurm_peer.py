"""A throughput-tuned single-host Slurm 22.05 cluster: the peer for Corral's task throughput.

Installs Debian's `slurm-wlm` and `munge` if missing, then runs munged, slurmctld and
four slurmd in a fresh temporary directory (key, socket, state, spool, logs: nothing
under /etc is used), all on 127.0.0.1 and on free ports.  Four nodes are emulated with
`slurmd -N nodeN` (one `Port=` each) when the build has MULTIPLE_SLURMD; otherwise one
node gets the CPUs of four.  The nodes declare 100 CPUs in all (SlurmdParameters=config_overrides),
one per job, so that as many jobs run at once as Corral's benchmark has tasks in flight.

Tuning follows SchedMD's High Throughput Computing Administration Guide
(https://slurm.schedmd.com/high_throughput.html): munged with 10 threads; no accounting,
job-completion log or accounting gather; sched/builtin (FIFO) with priority/basic;
short `batch_sched_delay` and `sched_min_interval` (the guide's values suit big clusters:
even the default 3 s delay leaves these 2 cores idle; `defer` gained nothing, one-by-one
submission never makes the burst it is for); MinJobAge=2 (the smallest recommended);
large MaxJobCount; SlurmctldDebug/SlurmdDebug=error; proctrack/pgid (about 5 ms less CPU
per job than linuxproc) and task/none, since cgroups may not be usable here.

The headline figure submits N jobs one by one (`sbatch --wrap ...`, as a framework
launching one task per job would) and times first submission to an empty `squeue`.
Each job runs `: > DIR/$SLURM_JOB_ID` (a shell builtin, no extra process) with output
to /dev/null, so completion is checked by counting files.  A job array of N is timed too.
CPU per job sums slurmctld + slurmd (and their reaped children) + munged; the detached
slurmstepd processes and the sbatch clients are reported apart where measurable.

    python runtime/benchmarks/slurm_peer.py [--jobs 1000] [--nodes 4]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

SBIN = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"


def ensure_installed() -> None:
    if all(shutil.which(b, path=SBIN) for b in ("slurmctld", "slurmd", "sbatch", "munged")):
        return
    before = set(psutil.pids())
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "slurm-wlm", "munge"]
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(install, env=env, check=True)
    for proc in psutil.process_iter(["name"]):  # a postinst may start the stock services
        if proc.pid not in before and proc.info["name"] in ("munged", "slurmctld", "slurmd"):
            print(f"slurm: stopping {proc.info['name']} (pid {proc.pid}) started by its package")
            stop_process(proc)


def stop_process(proc: psutil.Process | subprocess.Popen, timeout: float = 10.0) -> None:
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout)
    except (psutil.TimeoutExpired, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait(timeout)
    except (psutil.NoSuchProcess, ProcessLookupError):
        pass


def free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class SlurmCluster:
    """munged + slurmctld + slurmd(s) in a temporary directory; use as a context manager."""

    def __init__(self, nodes: int = 4, cpus_per_node: int = 2, max_jobs: int = 100_000) -> None:
        self.nodes, self.cpus, self.max_jobs = nodes, cpus_per_node, max_jobs
        self.dir = Path(tempfile.mkdtemp(prefix="slurm-peer-"))
        self.dir.chmod(0o755)  # munged refuses a socket in a directory others cannot search
        self.env = {**os.environ, "SLURM_CONF": str(self.dir / "slurm.conf")}
        self.procs: dict[str, subprocess.Popen] = {}
        self.emulation = ""

    def __enter__(self) -> SlurmCluster:
        try:
            ensure_installed()
            self._start_munge()
            if not self._start_slurm(self.nodes, self.cpus) and self.nodes > 1:
                self._stop_slurm()
                self._start_slurm(1, self.cpus * self.nodes, fallback=True)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_slurm()
        if "munged" in self.procs:
            stop_process(self.procs.pop("munged"))
        shutil.rmtree(self.dir, ignore_errors=True)

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.dir / f"{name}.out", "wb")
        self.procs[name] = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        log.close()

    def _fail(self, what: str) -> RuntimeError:
        tails = []
        for log in sorted(self.dir.glob("*.out")) + sorted(self.dir.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-15:]
            tails.append(f"--- {log.name}\n" + "\n".join(lines))
        return RuntimeError(f"slurm: {what}\n" + "\n".join(tails))

    def _start_munge(self) -> None:
        key = self.dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.socket = self.dir / "munge.socket"
        d = self.dir
        self._spawn("munged", [shutil.which("munged", path=SBIN), "-F", "--num-threads=10", f"--key-file={key}",
                               f"--socket={self.socket}", f"--pid-file={d}/munged.pid",
                               f"--log-file={d}/munged.log", f"--seed-file={d}/munged.seed"])
        self._wait(lambda: self.socket.exists(), "munged", 10)

    def _start_slurm(self, nodes: int, cpus: int, fallback: bool = False) -> bool:
        d, host = self.dir, socket.gethostname().split(".")[0]
        ctld_port, *node_ports = free_ports(1 + nodes)
        names = [f"node{i + 1}" for i in range(nodes)]
        node_lines = "\n".join(f"NodeName={n} NodeHostname={host} NodeAddr=127.0.0.1 Port={p} CPUs={cpus} "
                               f"RealMemory=2048 State=UNKNOWN" for n, p in zip(names, node_ports))
        (d / "slurm.conf").write_text(f"""\
ClusterName=corralpeer
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.socket}
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool/%n
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.%n.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.%n.log
SlurmctldDebug=error
SlurmdDebug=error
SlurmdParameters=config_overrides
ProctrackType=proctrack/pgid
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
PriorityType=priority/basic
SchedulerParameters=batch_sched_delay=0,sched_min_interval=20000,max_rpc_cnt=64,default_queue_depth=1000,sched_max_job_start=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MaxJobCount={self.max_jobs}
MaxArraySize={self.max_jobs}
MinJobAge=2
ReturnToService=2
{node_lines}
PartitionName=peer Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
        for sub in ["state", *(f"spool/{n}" for n in names)]:
            (d / sub).mkdir(parents=True, exist_ok=True)
        self._spawn("slurmctld", [shutil.which("slurmctld", path=SBIN), "-D", "-i"])
        self._wait(lambda: self.run("scontrol", "ping").returncode == 0, "slurmctld", 30)
        for n in names:
            self._spawn(f"slurmd.{n}", [shutil.which("slurmd", path=SBIN), "-D", "-N", n])
        idle = lambda: self.run("sinfo", "-h", "-N", "-o", "%T").stdout.split().count("idle") == nodes
        try:
            self._wait(idle, "slurmd", 30)
        except RuntimeError as err:
            if fallback or nodes == 1:
                raise
            print(f"slurm: {nodes} slurmd on one host did not come up ({str(err).splitlines()[0]}); falling back")
            return False
        self.emulation = (f"{nodes} nodes x {cpus} CPUs (multiple slurmd)" if nodes > 1 else
                          f"1 node with {cpus} CPUs" + (" (fallback: no multiple-slurmd)" if fallback else ""))
        return True

    def _stop_slurm(self) -> None:
        for name in sorted((n for n in self.procs if n.startswith("slurm")), reverse=True):  # slurmds first
            stop_process(self.procs.pop(name))
        conf = self.env["SLURM_CONF"]
        for proc in psutil.process_iter():  # detached slurmstepd and job shells of ours, if any
            try:
                if proc.pid != os.getpid() and proc.environ().get("SLURM_CONF") == conf:
                    stop_process(proc, 5)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass

    def _wait(self, ready, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise self._fail(f"{name} not ready after {timeout:.0f}s" + (f"; exited: {dead}" if dead else ""))
            time.sleep(0.1)

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(argv, env=self.env, capture_output=True, text=True)

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.procs.values():
            t = psutil.Process(proc.pid).cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        return total

    def time_jobs(self, jobs: int, array: bool = False) -> dict[str, float]:
        """Submit `jobs` trivial jobs and wait until every one has run and left the queue."""
        done = Path(tempfile.mkdtemp(prefix="jobs-", dir=self.dir))
        script = f": > {done}/$SLURM_JOB_ID"
        cpu0, clients0, t0 = self.cpu_seconds(), _children_cpu(), time.perf_counter()
        if array:
            self.run("sbatch", "--quiet", "-o", "/dev/null", f"--array=0-{jobs - 1}", "--wrap", script).check_returncode()
        else:
            for _ in range(jobs):
                self.run("sbatch", "--quiet", "-o", "/dev/null", "--wrap", script).check_returncode()
        submitted = time.perf_counter() - t0
        deadline = time.monotonic() + 60 + jobs
        while len(os.listdir(done)) < jobs or self.run("squeue", "-h", "-o", "%i").stdout.strip():
            if time.monotonic() > deadline:
                raise self._fail(f"only {len(os.listdir(done))} of {jobs} jobs ran before the deadline")
            time.sleep(0.01 if len(os.listdir(done)) < jobs else 0.05)
        wall = time.perf_counter() - t0
        cpu, clients = self.cpu_seconds() - cpu0, _children_cpu() - clients0
        shutil.rmtree(done)
        return {"jobs_per_second": jobs / wall, "wall_seconds": wall, "submit_seconds": submitted,
                "cpu_ms_per_job": 1000 * cpu / jobs, "client_cpu_ms_per_job": 1000 * clients / jobs}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(jobs: int, nodes: int = 4, slots: int = 100, array: bool = True) -> dict[str, Any]:
    """Start a cluster, time `jobs` one-by-one sbatch jobs (and optionally one array), stop it.
    The nodes declare `slots` CPUs in all (one per job): as many jobs in flight as Corral's tasks."""
    with SlurmCluster(nodes, cpus_per_node=max(1, slots // nodes), max_jobs=max(10_000, 4 * jobs)) as cluster:
        cluster.time_jobs(1)  # warm-up: every daemon has served a job before the clock starts
        result: dict[str, Any] = dict(cluster.time_jobs(jobs))
        if array:
            result.update({f"array_{k}": v for k, v in cluster.time_jobs(jobs, array=True).items()})
        result["emulation"] = cluster.emulation
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--slots", type=int, default=100, help="CPUs declared over all nodes: jobs in flight at most")
    parser.add_argument("--no-array", action="store_true", help="skip the job-array run")
    args = parser.parse_args()
    r = measure(args.jobs, args.nodes, args.slots, array=not args.no_array)
    print(f"slurm 22.05: {args.jobs} jobs, {r['emulation']}, {os.cpu_count()} cores")
    print(f"  one-by-one sbatch     {r['jobs_per_second']:8.1f} jobs/s  ({r['wall_seconds']:.2f} s; "
          f"submission alone {r['submit_seconds']:.2f} s)")
    print(f"  CPU per job (ms):     daemons {r['cpu_ms_per_job']:.1f}, sbatch+squeue {r['client_cpu_ms_per_job']:.1f}")
    if "array_jobs_per_second" in r:
        print(f"  one job array         {r['array_jobs_per_second']:8.1f} jobs/s  ({r['array_wall_seconds']:.2f} s; "
              f"daemons {r['array_cpu_ms_per_job']:.1f} ms CPU per job)")


if __name__ == "__main__":
    sys.exit(main())
