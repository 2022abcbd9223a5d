"""Job fork server: each job still runs in a process of its own, forked from one that has already
imported numpy, zarr and patchworks, instead of an interpreter that imports them anew.

A job's fixed cost is its interpreter's start and imports: about 0.5 s, more than the work of a
small tile's face or relabel job. So on a workstation the first job of a Snakemake run starts a fork
server for the run (detached; it runs that job itself meanwhile), and the later jobs hand their
command line, environment, working directory and standard streams (the file descriptors, passed
over a Unix socket) to it. The server forks a child per job, which runs the same
``patchworks.pipeline.rule.main`` as a job started by Snakemake would, with the job's streams and
log; the job waits for the child and exits with its exit status.

A job killed by Snakemake (or with it: kill -9 of its process group) closes its connection, and the
server kills the job's child at once; a child dies with its server. A server exits when the
Snakemake process that ran the job that started it is gone, and after ``IDLE_SECONDS`` without a
job. Servers are keyed by that Snakemake process, the host, the interpreter, its import path and
the thread settings read at import, so a server only runs jobs of its own run and environment.

Jobs in a SLURM job (``SLURM_JOB_ID`` set) never use one: there each Snakemake process runs one
job or a group's jobs, so a server would not be reused. ``PATCHWORKS_FORKSERVER=0`` turns it off.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ..segment import server as tile_server

IDLE_SECONDS = 60.0
SWITCH = "PATCHWORKS_FORKSERVER"
KEY_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
PR_SET_PDEATHSIG = 1


def enabled() -> bool:
    """Whether this job may run in a fork server: off in SLURM jobs and with PATCHWORKS_FORKSERVER=0."""
    return os.environ.get(SWITCH, "1") != "0" and "SLURM_JOB_ID" not in os.environ and sys.platform == "linux"


def socket_path(watched: int) -> Path:
    """The socket of the fork server for this job's Snakemake process and environment."""
    key = [socket.gethostname(), watched, sys.executable, sys.path, [os.environ.get(k) for k in KEY_ENV]]
    return tile_server.private_root() / f"fork-{tile_server.digest(key)}.sock"


def delegate(argv: list[str]) -> int | None:
    """Run the job ``argv`` in this run's fork server and return its exit status; None when there is
    no server yet (then this job starts one, unless another job is starting it) and the job runs here."""
    watched = tile_server.snakemake_pid()
    path = socket_path(watched)
    found = tile_server.connect(path)
    if found is None:
        start(path, watched)
        return None
    conn, hello = found
    with conn:
        umask = os.umask(0o022)
        os.umask(umask)
        env = {**os.environ, tile_server.SNAKEMAKE_PID: str(watched)}
        tile_server.send(conn, {"argv": argv, "cwd": os.getcwd(), "env": env, "umask": umask}, fds=[0, 1, 2])
        reply = tile_server.receive(conn)
    if reply is None:
        print(f"patchworks: the job fork server (pid {hello['pid']}) died while it ran this job; its log: "
              f"{log_path(path)}. Run the same command again (set {SWITCH}=0 to run jobs without it)",
              file=sys.stderr)
        return 1
    code = reply["exit"]
    if code < 0:
        print(f"patchworks: the job's process (pid {reply['pid']}, forked by the job fork server) was killed "
              f"by signal {-code} ({signal.Signals(-code).name}; out of memory?)", file=sys.stderr)
        return 128 - code
    return code


def start(path: Path, watched: int) -> None:
    """Start a server at ``path`` unless another job of this run is starting one (a lock it holds
    until it ends); the server answers once its imports are done."""
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return
    os.set_inheritable(fd, False)  # held until this job exits: the lock ends with it
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, sys.path))}
    tile_server.spawn([sys.executable, "-m", __name__, str(path), str(watched), str(IDLE_SECONDS)], env,
                      log_path(path))


def log_path(path: Path) -> Path:
    return path.with_suffix(".log")


# ---------------------------------------------------------------- the server process


def serve(path: Path, watched: int, idle: float) -> None:
    """Import what jobs share, then fork a child per job until process ``watched`` (Snakemake) is gone
    or ``idle`` seconds pass without a job."""
    import numpy  # noqa: F401  what every job but a served stage job imports
    import zarr  # noqa: F401

    from . import rule, steps  # noqa: F401

    if tile_server.connect(path) is not None:  # a server started by another job answers already
        return
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    inode = os.stat(path).st_ino
    listener.listen(64)
    print(f"job fork server pid {os.getpid()}: listening on {path} for Snakemake pid {watched}", flush=True)
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)  # SIGCHLD wakes the selector
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_read, selectors.EVENT_READ, "exited")
    jobs: dict[int, socket.socket] = {}  # a forked job's pid -> its job's connection
    ran, last = 0, time.monotonic()
    while True:
        events = selector.select(tile_server.POLL_SECONDS)
        if not events:
            if not tile_server.alive(watched):
                print(f"job fork server pid {os.getpid()}: its Snakemake (pid {watched}) is gone, exiting "
                      f"after {ran} job(s)", flush=True)
                break
            if not jobs and time.monotonic() - last > idle:
                print(f"job fork server pid {os.getpid()}: idle for {idle:.0f} s, exiting after {ran} job(s)",
                      flush=True)
                break
        for key, _ in events:
            if key.data == "accept":
                with contextlib.suppress(OSError):  # a job gone before it was forked: nothing to do
                    pid, conn = fork_job(listener, [selector, wake_read, wake_write, *jobs.values()])
                    jobs[pid] = conn
                    selector.register(conn, selectors.EVENT_READ, pid)
                    ran += 1
            elif key.data == "exited":  # children ended: each one's status to its job
                with contextlib.suppress(OSError):
                    while os.read(wake_read, 4096):
                        pass
                for pid, code in reap():
                    if (conn := jobs.pop(pid, None)) is not None:
                        with contextlib.suppress(KeyError):  # unless its job was gone before
                            selector.unregister(conn)
                        with conn, contextlib.suppress(OSError):
                            tile_server.send(conn, {"exit": code, "pid": pid})
                last = time.monotonic()
            else:  # a job's connection closed before its child ended: the job was killed
                with contextlib.suppress(ProcessLookupError):
                    os.kill(key.data, signal.SIGKILL)  # reaped as any other
                selector.unregister(key.fileobj)
    selector.close()
    with contextlib.suppress(OSError):  # unless a newer server replaced it
        if os.stat(path).st_ino == inode:
            for done in (path, Path(f"{path}.lock"), log_path(path)):  # the log, too: all went well
                done.unlink()
    listener.close()


def reap() -> list[tuple[int, int]]:
    """(pid, exit status) of every child that has ended; a negative status: killed by that signal."""
    ended = []
    with contextlib.suppress(ChildProcessError):
        while (done := os.waitpid(-1, os.WNOHANG))[0]:
            ended.append((done[0], os.waitstatus_to_exitcode(done[1])))
    return ended


def fork_job(listener: socket.socket, held: list[Any]) -> tuple[int, socket.socket]:
    """Accept a job and fork its child, which closes ``held`` (the server's sockets, pipes and
    selector); the child's pid and the job's connection."""
    conn, _ = listener.accept()
    conn.settimeout(10.0)
    tile_server.send(conn, {"pid": os.getpid()})
    message, fds = tile_server.receive_fds(conn, 3)  # the job's command and its streams
    if message is None:
        conn.close()
        raise OSError("the job's request was cut short")
    conn.settimeout(None)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: becomes the job
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        listener.close()
        conn.close()
        for item in held:
            with contextlib.suppress(OSError):
                os.close(item) if isinstance(item, int) else item.close()
        run_job(message, fds)
    for fd in fds:
        os.close(fd)
    return pid, conn


def run_job(message: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: take over the job's streams, directory and environment, run it, exit."""
    code = 1
    try:
        with contextlib.suppress(OSError):
            import ctypes

            ctypes.CDLL("libc.so.6").prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # dies with the server
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(message["cwd"])
        os.umask(message["umask"])
        os.environ.clear()
        os.environ.update(message["env"])
        sys.argv = [sys.argv[0], *message["argv"]]
        from . import rule

        rule.FORKED_BY = os.getppid()
        rule.main(message["argv"])
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":  # through the package (python -m patchworks.pipeline.forkserver)
    from patchworks.pipeline import forkserver as here

    here.serve(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
