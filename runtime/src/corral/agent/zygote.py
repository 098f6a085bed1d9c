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
stdout and stderr at the sandbox, takes the task's user, then either runs
the built-in executor or execs the given program.

A program without a user to switch to is started by posix_spawn (a vfork:
no copy of this process's page tables, about half the CPU of a fork): the
zygote itself steps into the child's directory and cgroups for the call,
and the child inherits them.  The others are forked.

A child with an `exit_file` is a command task the agent supervises itself
(agent/state.py): its wait status is written there before it is reported,
so that an agent restarted meanwhile still learns how the task ended.  When
the agent goes away (EOF on stdin, or a broken pipe as it answers), the zygote
starts nothing more and stays while children of its are alive, to reap them
and write their exit files; then it exits.
"""

from __future__ import annotations

import gc
import json
import os
import selectors
import shutil
import signal
import sys
import traceback

import encodings.idna  # noqa: F401  (http.client imports it lazily: once here, not in every child)

import corral.executor.command as builtin_command  # imported before forking: that is the point


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
        if request.get("user"):
            uid, gid = request["user"]
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        env = request["env"]
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


CGROUP_ROOT = "/sys/fs/cgroup"
_SPAWN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND


def _spawn(request: dict) -> int:
    """posix_spawn the request's program in its directory, session and cgroups (see above)."""
    argv, env = request["argv"], request["env"]
    program = argv[0]
    if os.sep not in program:
        program = shutil.which(program, path=env.get("PATH", os.defpath)) or program
    targets = request.get("cgroups") or []
    homes = _own_cgroups(targets)
    here = os.getcwd()
    try:
        os.chdir(request["cwd"])
        for path in targets:
            _join(path)
        return os.posix_spawn(program, argv, env, setsid=True, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, request["stdout"], _SPAWN_FLAGS, 0o644),
            (os.POSIX_SPAWN_OPEN, 2, request["stderr"], _SPAWN_FLAGS, 0o644),
        ])
    finally:
        for path in homes:
            _join(path)
        os.chdir(here)


def _join(cgroup: str) -> None:
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as fh:
        fh.write(str(os.getpid()))


def _own_cgroups(targets: list[str]) -> list[str]:
    """This process's cgroup in the hierarchy of each of `targets` (to return to after a spawn)."""
    if not targets:
        return []
    with open("/proc/self/cgroup") as fh:
        lines = [line.rstrip("\n").split(":", 2) for line in fh]
    if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):  # the unified hierarchy
        return [CGROUP_ROOT + path for _, controllers, path in lines if not controllers][:1]
    homes = []
    for target in targets:  # <root>/<controllers>/...: the line naming those controllers
        mount = os.path.relpath(target, CGROUP_ROOT).split(os.sep)[0]
        wanted = set(os.path.basename(os.path.realpath(os.path.join(CGROUP_ROOT, mount))).split(","))
        for _, controllers, path in lines:
            if wanted & set(controllers.split(",")):
                homes.append(os.path.join(CGROUP_ROOT, mount) + path)
                break
        else:
            raise OSError(f"this process is in no cgroup of the hierarchy of {target}")
    return homes


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
    exit_files: dict[int, str] = {}
    orphaned = False  # the agent is gone: nothing is reported, exit files are still written

    def reply(message: dict) -> None:
        nonlocal orphaned
        if orphaned:
            return
        try:
            stdout.write(json.dumps(message).encode() + b"\n")
            stdout.flush()
        except BrokenPipeError:  # the agent died while we spawned: its children still need us
            orphaned = True
            os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())  # (nothing left to flush at exit)

    def reap() -> bool:
        """Reap ended children; False once none is left."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return False
            if pid == 0:
                return True
            exit_file = exit_files.pop(pid, None)
            if exit_file is not None:
                _write_exit_file(exit_file, status)
            reply({"exited": pid, "status": status})

    while True:
        if orphaned and not reap():
            return
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
                orphaned = True
            buffer += chunk
            while b"\n" in buffer and not orphaned:
                line, buffer = buffer.split(b"\n", 1)
                if not line.strip():
                    continue
                request = json.loads(line)
                if request.get("argv") and not request.get("user"):
                    try:
                        pid = _spawn(request)
                    except OSError as exc:
                        reply({"id": request.get("id"), "error": f"cannot run {request['argv'][0]}: {exc}"})
                        continue
                else:
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
            if orphaned:  # (what a gone agent asked for is not started: it would never learn of it)
                selector.unregister(stdin.fileno())
                break
        reap()


def _write_exit_file(path: str, status: int) -> None:
    try:
        with open(path + ".tmp", "w") as fh:
            fh.write(str(status))
        os.replace(path + ".tmp", path)
    except OSError as exc:
        sys.stderr.write(f"zygote: cannot write the exit status {status} to {path}: {exc}\n")


if __name__ == "__main__":
    serve()
