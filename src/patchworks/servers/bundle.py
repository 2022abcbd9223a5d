"""A bundle's tile servers: one server for all the stage jobs of a SLURM job.

A bundle of stage jobs in one SLURM job (a group: ``profiles/stage-bundles``) runs each job in a job
step of its own, and SLURM ends a step's processes with it. So the Snakemake process that runs the
bundle starts a launcher (``serve``, from the Snakefile) that lives as long as the bundle, and the
bundle's jobs have it start their server (with the job's own interpreter: that of a conda
environment, too), which then serves every tile of the bundle.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import sys
from pathlib import Path
from typing import Any

from . import channel, process
from .channel import Unavailable

LAUNCHER = [sys.executable, "-m", "patchworks.servers.bundle"]


def launcher_address(config: dict[str, Any]) -> str:
    from .tile import run_key

    return channel.address("launcher", [run_key(config), os.environ.get("SLURM_JOB_ID")])


def serve(config: dict[str, Any], argv: list[str]) -> bool:
    """Start the launcher of a bundle's tile servers, when this process (``argv``: Snakemake's
    command line) runs a bundle of stage jobs in its SLURM job; it lives as long as this process.
    Its socket is bound here, so the bundle's first job finds it. Whether one was started."""
    from ..methods import method_of

    bundled = "--local-groupid" in argv and "stage" in option_values(argv, "--allowed-rules")
    if not (method_of(config["method"]).served and bundled and "SLURM_JOB_ID" in os.environ
            and "SLURM_STEP_ID" not in os.environ) or channel.unsupported():
        return False
    try:
        listener = channel.bind(launcher_address(config), backlog=16)
        if listener is None:
            return False
        with listener:
            command = [*LAUNCHER, str(listener.fileno()), str(os.getpid())]
            process.spawn(command, dict(os.environ), process.log_file(config, "launcher"),
                          fds=(listener.fileno(),))
    except Unavailable as why:
        print(f"patchworks: no tile server launcher for this bundle ({why}); its jobs start their own",
              file=sys.stderr)
        return False
    return True


def option_values(argv: list[str], option: str) -> list[str]:
    """The values after ``option`` on a command line, up to the next option."""
    values = argv[argv.index(option) + 1:] if option in argv else []
    return values[:next((i for i, v in enumerate(values) if v.startswith("-")), len(values))]


def launch(config: dict[str, Any], command: list[str], log: Path) -> int | None:
    """Have the launcher of this job's bundle start ``command`` (a server, which then lives as long
    as the bundle); its pid, or None outside a bundle (or when the launcher cannot be reached)."""
    if "SLURM_STEP_ID" not in os.environ:
        return None
    try:
        found = channel.connect(launcher_address(config), "the bundle's server launcher")
    except Unavailable:
        return None
    if found is None:
        return None
    with found[0] as conn:
        channel.send(conn, {"command": command, "env": process.job_env(), "log": str(log)})
        reply = channel.receive(conn, channel.ANSWER_SECONDS)
    return None if reply is None else reply["pid"]


def launcher(fd: int, watched: int) -> None:
    """A bundle's launcher: start the servers its jobs ask for, each watching this process, until
    process ``watched`` (the bundle's Snakemake) is gone."""
    import socket

    listener = socket.socket(fileno=fd)
    watch = process.Watch(watched)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    if not watch.gone():
        selector.register(watch, selectors.EVENT_READ)
    print(f"launcher pid {os.getpid()}: for the bundle of Snakemake pid {watched}", flush=True)
    while not watch.gone():
        selector.select()
        reap()
        if watch.gone() or (conn := channel.accept(listener)) is None:
            continue
        with conn:
            message = channel.receive(conn, channel.ANSWER_SECONDS)
            if message is None:
                continue
            try:
                command = [*message["command"], str(os.getpid())]
                pid = process.spawn(command, message["env"], Path(message["log"]))
            except Unavailable as why:
                print(f"launcher pid {os.getpid()}: {why}", flush=True)
                continue
            print(f"launcher pid {os.getpid()}: started tile server pid {pid}", flush=True)
            with contextlib.suppress(OSError):  # the job is gone: the server exits when idle
                channel.send(conn, {"pid": pid})
    print(f"launcher pid {os.getpid()}: its Snakemake (pid {watched}) is gone, exiting", flush=True)
    listener.close()


def reap() -> None:
    """Servers that exited: reaped, so that none lingers as a zombie."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


if __name__ == "__main__":  # python -m patchworks.servers.bundle FD PID
    from patchworks.servers import bundle as here

    here.launcher(int(sys.argv[1]), int(sys.argv[2]))
