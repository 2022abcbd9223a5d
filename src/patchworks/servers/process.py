"""Processes of the servers: which Snakemake a job belongs to, watching a process end, starting one
detached, and where servers log. Every job imports this module (to reach its fork server): what only
a server's start needs is imported there."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import sys
import time
from pathlib import Path
from typing import Any

from .channel import Unavailable

SNAKEMAKE_PID = "PATCHWORKS_SNAKEMAKE_PID"  # set by the Snakefile in the Snakemake process, for its jobs


def announce_snakemake() -> None:
    """Tell this process's jobs which process runs them (the Snakefile calls this as it is parsed, in
    every Snakemake process that runs jobs): no process tree is read, so wrappers such as ``timeout``,
    ``srun`` or ``apptainer exec`` between Snakemake and a job change nothing."""
    os.environ[SNAKEMAKE_PID] = str(os.getpid())


def snakemake_pid() -> int:
    """The Snakemake process that runs this job; :class:`Unavailable` when Snakemake did not start it."""
    try:
        return int(os.environ[SNAKEMAKE_PID])
    except (KeyError, ValueError):
        raise Unavailable(f"this job was not started by the workflow's Snakemake ({SNAKEMAKE_PID} is not "
                          "set)") from None


class Watch:
    """A process watched through a file descriptor that becomes readable as the process ends (a zombie
    has): a pidfd (Linux 5.3 and later), else a pipe that a thread writes to once polling finds the
    process gone (within ``POLL_SECONDS``), for older kernels such as RHEL 8's."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            self.fd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:
            self.fd = None  # gone already
        except OSError:
            self.fd = polled(pid)

    def fileno(self) -> int:
        if self.fd is None:
            raise ValueError(f"process {self.pid} has ended")
        return self.fd

    def gone(self, seconds: float = 0) -> bool:
        """Whether the process has ended, waiting up to ``seconds`` for it."""
        return self.fd is None or bool(select.select([self.fd], [], [], seconds)[0])

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


POLL_SECONDS = 1.0


def polled(pid: int) -> int:
    """The read end of a pipe that a daemon thread writes to once process ``pid`` has ended."""
    import threading

    import psutil

    def running() -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def watch() -> None:
        while running():
            time.sleep(POLL_SECONDS)
        with contextlib.suppress(OSError):
            os.write(write, b"x")

    read, write = os.pipe()
    threading.Thread(target=watch, daemon=True).start()
    return read


def spawn(command: list[str], env: dict[str, str], log: Path, fds: tuple[int, ...] = ()) -> int:
    """Start ``command`` detached (a session of its own), its output appended to ``log``; its pid.
    :class:`Unavailable` when it cannot be started."""
    import subprocess

    try:
        with open(log, "a") as fh:
            return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                                    env=env, start_new_session=True, close_fds=True, pass_fds=fds).pid
    except OSError as err:
        raise Unavailable(f"cannot start {command[2]} ({err})") from err


def log_file(config: dict[str, Any], name: str) -> Path:
    """The log of the server ``name`` on this host, in the run's work directory (its folder made)."""
    from ..layout import Layout

    log = Path(Layout.of_run(config).server_log(f"{socket.gethostname()}-{name}"))
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise Unavailable(f"cannot create the servers' log folder {log.parent} ({err})") from err
    return log


def job_env() -> dict[str, str]:
    """This job's environment, with its import path (a server imports what the job would)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, sys.path))}
