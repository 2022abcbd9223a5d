"""Job fork server: each job still runs in a process of its own, forked from one that has already
imported numpy, zarr and patchworks, instead of an interpreter that imports them anew.

A job's fixed cost is its interpreter's start and imports: about 0.5 s, more than the work of a
small tile's face or relabel job. So on a workstation the first job of a Snakemake run starts a fork
server for the run (detached; it runs that job itself meanwhile), and the later jobs hand their
command line, environment, working directory and standard streams (the file descriptors, passed
over the connection) to it. The server forks a child per job, which runs the same
``patchworks.pipeline.job.main`` as a job started by Snakemake would, with the job's streams and
log; the job waits for the child and exits with its exit status.

A job killed by Snakemake (or with it: kill -9 of its process group) closes its connection, and the
server kills the job's child at once; a child dies with its server. Once the Snakemake process that
runs its jobs is gone, a server takes no new job and exits when its running jobs have ended (as
jobs of their own would, they finish unless killed); it also exits after ``IDLE_SECONDS`` without a
job. Servers are
keyed by that Snakemake process, the host, the interpreter, its import path and the thread settings
read at import, so a server only runs jobs of its own run and environment. A job that cannot reach
one (:class:`~.channel.Unavailable`) runs in its own interpreter, as without the server.

Jobs in a SLURM job (``SLURM_JOB_ID`` set) never use one: there each Snakemake process runs one
job or a group's jobs, so a server would not be reused. ``PATCHWORKS_FORKSERVER=0`` turns it off.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from . import channel, process
from .channel import Unavailable

IDLE_SECONDS = 60.0
SWITCH = "PATCHWORKS_FORKSERVER"
KEY_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
PR_SET_PDEATHSIG = 1
_starting: socket.socket | None = None  # this job's claim on starting the server: held until it exits


def enabled() -> bool:
    """Whether this job may run in a fork server: off in SLURM jobs and with PATCHWORKS_FORKSERVER=0."""
    return os.environ.get(SWITCH, "1") != "0" and "SLURM_JOB_ID" not in os.environ


def server_key(watched: int) -> list[Any]:
    """What a job shares with the fork server that may run it."""
    return [socket.gethostname(), watched, sys.executable, sys.path, [os.environ.get(k) for k in KEY_ENV]]


def delegate(argv: list[str], config: dict[str, Any]) -> int | None:
    """Run the job ``argv`` in this run's fork server and return its exit status; None when there is
    no server yet (then this job starts one, unless another job is starting it) and the job runs here.
    :class:`Unavailable` when no server can be used."""
    if reason := channel.unsupported():
        raise Unavailable(reason)
    watched = process.snakemake_pid()
    key = server_key(watched)
    found = channel.connect(channel.address("fork", key), "the job fork server")
    if found is None:
        start(key, watched, config)
        return None
    conn, pid = found
    with conn:
        umask = os.umask(0o022)
        os.umask(umask)
        channel.send(conn, {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask},
                     fds=[0, 1, 2])
        reply = channel.receive(conn)
    if reply is None:
        print(f"patchworks: the job fork server (pid {pid}) died while it ran this job; its log: "
              f"{log_file(config, watched)}. Run the same command again (set {SWITCH}=0 to run jobs without "
              "it)", file=sys.stderr)
        return 1
    code = reply["exit"]
    if code < 0:
        print(f"patchworks: the job's process (pid {reply['pid']}, forked by the job fork server) was killed "
              f"by signal {-code} ({signal.Signals(-code).name}; out of memory?)", file=sys.stderr)
        return 128 - code
    return code


def log_file(config: dict[str, Any], watched: int) -> Path:
    return process.log_file(config, f"fork-{watched}")


def start(key: list[Any], watched: int, config: dict[str, Any]) -> None:
    """Start a server unless another job of this run is starting one (a claim it holds until it
    ends); the server answers once its imports are done."""
    global _starting
    _starting = channel.bind(channel.address("fork-start", key))
    if _starting is None:
        return
    log = log_file(config, watched)
    name = channel.address("fork", key)[1:]  # without its leading NUL
    command = [sys.executable, "-m", __name__, name, str(watched), str(IDLE_SECONDS), str(log)]
    process.spawn(command, process.job_env(), log)


# ---------------------------------------------------------------- the server process


def serve(name: str, watched: int, idle: float, log: Path) -> None:
    """Import what jobs share, then fork a child per job until process ``watched`` (Snakemake) is gone
    or ``idle`` seconds pass without a job; then remove its ``log``: all went well."""
    import numpy  # noqa: F401  what every job but a served stage job imports
    import zarr  # noqa: F401

    from ..pipeline import config, job, registry, steps  # noqa: F401
    from . import tile  # noqa: F401  (a stage job's)

    config.validator()  # built once, here: every forked job validates its config with it

    listener = channel.bind(name, backlog=64)
    if listener is None:  # a server started by another job listens already
        return
    watch = process.Watch(watched)
    if watch.gone():
        return
    print(f"job fork server pid {os.getpid()}: listening for Snakemake pid {watched}", flush=True)
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)  # SIGCHLD wakes the selector
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_read, selectors.EVENT_READ, "exited")
    selector.register(watch, selectors.EVENT_READ, "watched")
    jobs: dict[int, Connection] = {}  # a forked job's pid -> its job's connection
    ran, last, ending = 0, time.monotonic(), False
    while True:
        events = selector.select(None if jobs or ending else max(0.0, last + idle - time.monotonic()))
        for key, _ in events:
            if key.data == "accept":
                with contextlib.suppress(OSError):  # a job gone before it was forked: nothing to do
                    found = fork_job(listener, [selector, watch, wake_read, wake_write, *jobs.values()])
                    if found is not None:
                        pid, conn = found
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
                            conn.send({"exit": code, "pid": pid})
                last = time.monotonic()
            elif key.data != "watched":  # a job's connection closed before its child ended: it was killed
                with contextlib.suppress(ProcessLookupError):
                    os.kill(key.data, signal.SIGKILL)  # reaped as any other
                selector.unregister(key.fileobj)
        if not ending and watch.gone():  # no new jobs; those running finish, as jobs of their own would
            ending = True
            selector.unregister(listener)
            selector.unregister(watch)
        if ending and not jobs:
            print(f"job fork server pid {os.getpid()}: its Snakemake (pid {watched}) is gone, exiting "
                  f"after {ran} job(s)", flush=True)
            break
        if not events and not jobs:
            print(f"job fork server pid {os.getpid()}: idle for {idle:.0f} s, exiting after {ran} job(s)",
                  flush=True)
            break
    selector.close()
    listener.close()
    log.unlink(missing_ok=True)


def reap() -> list[tuple[int, int]]:
    """(pid, exit status) of every child that has ended; a negative status: killed by that signal."""
    ended = []
    with contextlib.suppress(ChildProcessError):
        while (done := os.waitpid(-1, os.WNOHANG))[0]:
            ended.append((done[0], os.waitstatus_to_exitcode(done[1])))
    return ended


def fork_job(listener: socket.socket, held: list[Any]) -> tuple[int, Connection] | None:
    """Accept a job and fork its child, which closes ``held`` (the server's sockets, pipes, watch and
    selector); the child's pid and the job's connection, None for a connection refused or cut short."""
    conn = channel.accept(listener)
    if conn is None:
        return None
    message, fds = channel.receive_fds(conn, 3, channel.ANSWER_SECONDS)  # the job's command and streams
    if message is None:
        conn.close()
        return None
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
        from ..pipeline import job

        job.FORKED_BY = os.getppid()
        job.main(message["argv"])
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


if __name__ == "__main__":  # through the package (python -m patchworks.servers.fork NAME PID IDLE LOG)
    from patchworks.servers import fork as here

    here.serve("\0" + sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4]))
