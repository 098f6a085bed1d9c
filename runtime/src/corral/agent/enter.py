"""The first process of a nested container session: it enters the parent container, then execs the command.

    python -I -S enter.py CGROUPS TTY UID GID -- PROGRAM [ARG...]

CGROUPS are the parent container's cgroup directories, newline-separated (empty under posix
isolation); TTY is `tty` when stdin is the session's terminal, which becomes the controlling
one; UID and GID (empty: stay root) are dropped to after joining, since only root may join.
A separate process rather than a preexec_fn, because the agent has threads.  It imports the
standard library only, so that it starts in milliseconds.
"""

import fcntl
import os
import sys
import termios


def main(argv: list[str]) -> None:
    cgroups, tty, uid, gid, separator, *command = argv[1:]
    assert separator == "--" and command, "usage: enter.py CGROUPS TTY UID GID -- PROGRAM [ARG...]"
    for path in filter(None, cgroups.split("\n")):
        with open(os.path.join(path, "cgroup.procs"), "w") as procs:
            procs.write(str(os.getpid()))
    if tty == "tty":
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    if gid:
        os.setgroups([])
        os.setgid(int(gid))
    if uid:
        os.setuid(int(uid))
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
        sys.exit(127)


if __name__ == "__main__":
    main(sys.argv)
