"""A fork server that starts executors quickly.

Starting a fresh Python interpreter for every command executor costs tens of
milliseconds of CPU; forking this pre-started process (which has already
imported the executor) costs about one.  The agent runs it as a child and
talks to it with JSON lines on its stdin/stdout:

    -> {"id": 7, "argv": [...] | null, "builtin": "command" | null,
        "env": {...}, "cwd": "...", "stdout": "...", "stderr": "...", "cgroups": [...],
        "user": [uid, gid] | null, "exit_file": "..." | null}
    <- {"id": 7, "pid": 1234}            or {"id": 7, "error": "..."}
    <- {"exited": 1234, "status": 0}     (wait status, when a child ends)

Each child starts a new session (so executors outlive the agent and their
own process-group kills never reach it), joins its cgroups, points its
stdout and stderr at the sandbox, then either runs the built-in executor or
execs the given program (as `user`, when given).  A child with an
`exit_file` (a task the agent runs without an executor process,
agent/inline_executor.py) has its wait status written there when it ends, so
that an agent restarted meanwhile still learns how it ended: when the agent
goes away (EOF on stdin), the zygote stays until its last such child has
ended; executors keep running on their own.

Such a task, run as the agent's user, is started with posix_spawn (a vfork,
without the child's Python code or copied page tables: a third of the CPU of
fork and exec): the zygote steps into the task's cgroups itself for the
spawn, so that the task starts in them, and returns to its own.
"""

from __future__ import annotations

import gc
import json
import os
import selectors
import signal
import sys
import traceback

import encodings.idna  # noqa: F401  (http.client imports it lazily: once here, not in every child)

import corral.executor.command as builtin_command  # imported before forking: that is the point

CGROUP_ROOT = "/sys/fs/cgroup"


def _child(request: dict, close_fds: list[int]) -> None:
    """Runs in the forked child; never returns."""
    try:
        os.setsid()
        for path in request.get("cgroups") or []:
            with open(os.path.join(path, "cgroup.procs"), "w") as fh:
                fh.write(str(os.getpid()))
        for fd in close_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        gc.disable()  # a short-lived child: collecting would only copy shared pages
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        stdin = os.open(os.devnull, os.O_RDONLY)
        out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(stdin, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        for fd in (stdin, out, err):
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        env = request["env"]
        user = request.get("user")
        if user:
            os.setgroups([])
            os.setgid(user[1])
            os.setuid(user[0])
        if request.get("builtin") == "command":
            os.environ.clear()
            os.environ.update(env)
            sys.stdout = os.fdopen(1, "w", buffering=1)
            sys.stderr = os.fdopen(2, "w", buffering=1)
            code = builtin_command.main()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        argv = request["argv"]
        os.execvpe(argv[0], argv, env)
    except BaseException:
        try:
            os.write(2, traceback.format_exc().encode())
        finally:
            os._exit(127)


class _Spawner:
    """posix_spawn into a task's cgroups by passing through them (see the module's docstring)."""

    def __init__(self) -> None:
        self.home: dict[str, str] = {}  # a hierarchy's directory under CGROUP_ROOT -> this process's cgroup in it
        self.unified = os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers"))
        try:
            with open("/proc/self/cgroup") as fh:
                for line in fh:
                    _, controllers, path = line.rstrip("\n").split(":", 2)
                    if self.unified and controllers == "":
                        self.home[""] = os.path.join(CGROUP_ROOT, path.lstrip("/"))
                    for name in controllers.split(",") if controllers else ["unified"]:
                        self.home.setdefault(name, os.path.join(CGROUP_ROOT, name, path.lstrip("/")))
        except OSError:
            pass

    def _home_of(self, cgroup: str) -> str | None:
        if self.unified:
            return self.home.get("")
        return self.home.get(os.path.relpath(cgroup, CGROUP_ROOT).split(os.sep)[0])

    def spawn(self, request: dict) -> int | None:
        """The pid of the spawned task, or None where only a fork can start it."""
        if request.get("user"):
            return None
        cgroups = request.get("cgroups") or []
        homes = [self._home_of(path) for path in cgroups]
        if None in homes:
            return None
        argv, env = request["argv"], request["env"]
        program = _which(argv[0], env.get("PATH", os.defpath))
        if program is None:
            return None  # the fork's exec fails as the command executor's would
        pid = str(os.getpid())
        entered: list[str] = []
        try:
            for home in homes:  # (can we return? a cgroup2 parent with children's controllers refuses)
                _join(home, pid)
            for path in cgroups:
                _join(path, pid)
                entered.append(path)
            os.chdir(request["cwd"])
            return os.posix_spawn(program, argv, env, setsid=True, file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
                (os.POSIX_SPAWN_OPEN, 2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            ])
        except OSError:
            return None
        finally:
            os.chdir("/")
            for home in homes[: len(entered)]:
                _join(home, pid)


def _join(cgroup: str, pid: str) -> None:
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as fh:
        fh.write(pid)


def _which(program: str, path: str) -> str | None:
    if "/" in program:
        return program
    for directory in path.split(os.pathsep):
        candidate = os.path.join(directory or ".", program)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


def serve() -> None:
    # Objects imported so far are never collected: freezing them keeps the
    # collector from touching (and so copying) their pages in every child.
    gc.freeze()
    signal_r, signal_w = os.pipe()
    os.set_blocking(signal_w, False)
    os.set_blocking(signal_r, False)
    signal.set_wakeup_fd(signal_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    own_fds = [signal_r, signal_w]
    selector = selectors.DefaultSelector()
    selector.register(stdin.fileno(), selectors.EVENT_READ, "requests")
    selector.register(signal_r, selectors.EVENT_READ, "signals")
    buffer = b""
    spawner = _Spawner()
    exit_files: dict[int, str] = {}
    agent_gone = False

    def reply(message: dict) -> None:
        if agent_gone:
            return
        try:
            stdout.write(json.dumps(message).encode() + b"\n")
            stdout.flush()
        except BrokenPipeError:
            pass  # the agent died; its successor reads the exit files

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            path = exit_files.pop(pid, None)
            if path is not None:
                _write_exit_file(path, status)
            reply({"exited": pid, "status": status})

    while not (agent_gone and not exit_files):
        for key, _ in selector.select():
            if key.data == "signals":
                try:
                    os.read(signal_r, 4096)
                except BlockingIOError:
                    pass
                reap()
                continue
            chunk = os.read(stdin.fileno(), 65536)
            if not chunk:  # the agent is gone
                agent_gone = True
                selector.unregister(stdin.fileno())
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if not line.strip():
                    continue
                request = json.loads(line)
                pid = spawner.spawn(request) if request.get("exit_file") else None
                if pid is None:
                    try:
                        pid = os.fork()
                    except OSError as exc:
                        reply({"id": request.get("id"), "error": f"fork failed: {exc}"})
                        continue
                    if pid == 0:
                        _child(request, own_fds + [selector.fileno()])
                if request.get("exit_file"):
                    exit_files[pid] = request["exit_file"]
                reply({"id": request.get("id"), "pid": pid})
        reap()


def _write_exit_file(path: str, status: int) -> None:
    try:
        with open(path, "w") as fh:
            fh.write(f"{status}\n")
    except OSError:
        pass  # the sandbox is gone: nobody will ask


if __name__ == "__main__":
    serve()
