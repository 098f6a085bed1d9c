"""A fork server that starts executors quickly.

Starting a fresh Python interpreter for every command executor costs tens of
milliseconds of CPU; forking this pre-started process (which has already
imported the executor) costs about one.  The agent runs it as a child and
talks to it with JSON lines on its stdin/stdout:

    -> {"id": 7, "argv": [...] | null, "builtin": "command" | null,
        "env": {...}, "cwd": "...", "stdout": "...", "stderr": "...", "cgroups": [...]}
    <- {"id": 7, "pid": 1234}            or {"id": 7, "error": "..."}
    <- {"exited": 1234, "status": 0}     (wait status, when a child ends)

Each child starts a new session (so executors outlive the agent and their
own process-group kills never reach it), joins its cgroups, points its
stdout and stderr at the sandbox, then either runs the built-in executor or
execs the given program.  When the agent goes away (EOF on stdin), the
zygote exits; the executors keep running.
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

    def reply(message: dict) -> None:
        stdout.write(json.dumps(message).encode() + b"\n")
        stdout.flush()

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            reply({"exited": pid, "status": status})

    while True:
        for key, _ in selector.select():
            if key.data == "signals":
                try:
                    os.read(signal_r, 4096)
                except BlockingIOError:
                    pass
                reap()
                continue
            chunk = os.read(stdin.fileno(), 65536)
            if not chunk:
                return  # the agent is gone
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if not line.strip():
                    continue
                request = json.loads(line)
                try:
                    pid = os.fork()
                except OSError as exc:
                    reply({"id": request.get("id"), "error": f"fork failed: {exc}"})
                    continue
                if pid == 0:
                    _child(request, own_fds + [selector.fileno()])
                reply({"id": request.get("id"), "pid": pid})
        reap()


if __name__ == "__main__":
    serve()
