"""Tile servers: a model method's import and model load paid once per process, not once per tile.

A stage job of a served method (``method.<name>.server``) hands its tile to a long-lived process on
its node that runs the very same ``steps.stage`` for tile after tile, its model loaded once. The job
claims a free slot (an abstract socket name it binds: as many servers as stage jobs run at once on
the node, each used by one job at a time), connects to the slot's server and sends its arguments;
when nobody listens there it starts one: the same interpreter, detached, logging to
``<workdir>/<label>/logs/server/``. The reply is ok, with what the step printed (copied to the job's
log), or the step's error, which the job raises as its own.

A server that dies mid-tile fails that job alone; its retry starts a new server. A job that cannot
claim a slot, reach or start a server (:class:`~.channel.Unavailable`) runs its step in its own
process instead. A server abandons its tile, exiting at once, when the job that asked for it is gone
(killed): the tile's writer lock (``steps.stage``) then passes to the rerun's job, so one tile never
has two writers. A server exits after ``IDLE_SECONDS`` without work, when the run ends (``stop``:
the Snakefile's onsuccess / onerror), and as soon as the Snakemake process that runs its jobs is
gone (a killed run; on SLURM, the end of the SLURM job, whose Snakemake runs one job or a group's).

Servers are keyed by the run (working directory, work directory), its Snakemake process (in a
bundle: the bundle) and the node (host, interpreter, CUDA_VISIBLE_DEVICES, SLURM_JOB_ID): a server
serves the jobs of one Snakemake process, under SLURM of its own allocation only.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pickle
import select
import selectors
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from ..layout import Layout
from ..methods import method_of
from . import bundle, channel, process
from .channel import Unavailable

IDLE_SECONDS = 60.0
START_SECONDS = 300.0  # for a new server to answer (the interpreter and patchworks import)
SLOTS = 64  # servers of one run on one node, at most
SERVER = [sys.executable, "-m", "patchworks.servers.tile"]


class ServerError(RuntimeError):
    """A tile server died while it segmented the job's tile."""


def run_key(config: dict[str, Any]) -> list[Any]:
    """The run: its working directory and work directory (one run at a time holds them); its images share
    the servers."""
    return [os.getcwd(), os.path.abspath(Layout.of_run(config).root)]


def node_key() -> list[Any]:
    """What a server must share with the jobs it serves, besides the run."""
    return [socket.gethostname(), sys.executable, os.environ.get("CUDA_VISIBLE_DEVICES"),
            os.environ.get("SLURM_JOB_ID")]


def owner(snakemake: int) -> int | None:
    """Whose servers a job uses: those of its Snakemake process; in a SLURM job step (a job of a
    bundle, which runs under a Snakemake of its own) those of the allocation (``node_key``)."""
    return None if "SLURM_STEP_ID" in os.environ else snakemake


def server_address(config: dict[str, Any], serving: int | None, slot: int) -> str:
    """The socket name of a slot's server for the jobs of ``serving`` (see ``owner``)."""
    return channel.address("tile", [run_key(config), node_key(), serving, slot])


def stage(config: dict[str, Any], tile: int, threshold_file: str | None, normalization_file: str | None,
          output: str) -> None:
    """``steps.stage`` in a tile server of this node. :class:`Unavailable` (before the tile is sent)
    when no server can be used; :class:`ServerError` when the server died on the tile."""
    if reason := channel.unsupported():
        raise Unavailable(reason)
    snakemake = process.snakemake_pid()
    with slot(config) as n:
        name = server_address(config, owner(snakemake), n)
        conn, pid = channel.connect(name, f"tile server {n}") or start(config, name, n, snakemake)
        with conn:
            channel.send(conn, {"args": (config, tile, threshold_file, normalization_file, output)})
            reply = channel.receive(conn)
    log = process.log_file(config, f"tile-{n}")
    if reply is None:
        raise ServerError(f"the tile server (pid {pid}) died while segmenting tile {tile} (killed? out of "
                          f"memory?); its log: {log}. The job's retry, or the next run, starts a new server")
    sys.stdout.write(reply["output"])
    print(f"patchworks stage: in tile server pid {reply['pid']} (its tile {reply['served']}; peak RSS "
          f"{reply['peak_rss_mb']:.1f} MB; log {log})")
    if not reply["ok"]:
        print(reply["traceback"], file=sys.stderr, end="")
        raise reply["error"]


@contextlib.contextmanager
def slot(config: dict[str, Any]) -> Iterator[int]:
    """The first slot that no other job of this run and node holds; held until the block ends (the
    claim goes with the job's process, however it ends)."""
    for n in range(SLOTS):
        claim = channel.bind(channel.address("slot", [run_key(config), node_key(), n]))
        if claim is not None:
            with claim:
                yield n
            return
    raise Unavailable(f"all {SLOTS} tile server slots of this run on this node are taken")


def start(config: dict[str, Any], name: str, n: int, snakemake: int) -> tuple[Connection, int]:
    """Start the server of slot ``n`` at ``name`` and connect to it."""
    log = process.log_file(config, f"tile-{n}")
    command = [*SERVER, name[1:], str(IDLE_SECONDS)]  # the name without its leading NUL
    pid = (bundle.launch(config, command, log)
           or process.spawn([*command, str(snakemake)], process.job_env(), log))
    started, deadline = process.Watch(pid), time.monotonic() + START_SECONDS
    try:
        while (found := channel.connect(name, f"tile server {n}")) is None:
            if started.gone(0.05) or time.monotonic() > deadline:
                tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-20:])
                raise Unavailable(f"a tile server (pid {pid}) did not start; its log {log} ends:\n{tail}")
    finally:
        started.close()
    return found


def stop(config: dict[str, Any]) -> int:
    """Stop the tile servers of this run and Snakemake process on this node; how many answered. (A
    bundle's servers end with its launcher, not with one of its jobs.)"""
    if not method_of(config["method"]).served or channel.unsupported() or owner(os.getpid()) is None:
        return 0
    stopped = 0
    for n in range(SLOTS):
        with contextlib.suppress(Unavailable):
            found = channel.connect(server_address(config, os.getpid(), n), f"tile server {n}")
            if found:
                with found[0] as conn:
                    channel.send(conn, {"stop": True})
                    stopped += channel.receive(conn, channel.ANSWER_SECONDS) is not None
    return stopped


# ---------------------------------------------------------------- the server process


def serve(name: str, idle: float, watched: int) -> None:
    """Listen at ``name`` and run ``steps.stage`` for each request, one at a time, until ``idle``
    seconds pass without one, a stop request comes or process ``watched`` (its Snakemake, or its
    bundle's launcher) is gone."""
    from ..pipeline.job import tune_malloc

    tune_malloc()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True)
    listener = channel.bind(name, backlog=8)
    if listener is None:
        print(f"tile server pid {os.getpid()}: another server listens there already, exiting", flush=True)
        return
    watch = process.Watch(watched)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    if not watch.gone():  # else the loop ends at once
        selector.register(watch, selectors.EVENT_READ)
    print(f"tile server pid {os.getpid()}: listening for the jobs of pid {watched} ({sys.executable})",
          flush=True)
    served, last = 0, time.monotonic()
    while True:
        ready = {key.fileobj for key, _ in selector.select(max(0.0, last + idle - time.monotonic()))}
        if watch.gone():
            print(f"tile server pid {os.getpid()}: its Snakemake or bundle launcher (pid {watched}) is gone, "
                  "exiting", flush=True)
            break
        if not ready:
            print(f"tile server pid {os.getpid()}: idle for {idle:.0f} s, exiting", flush=True)
            break
        conn = channel.accept(listener)
        if conn is None:
            continue
        with conn:
            message = channel.receive(conn, channel.ANSWER_SECONDS)
            if message is not None and message.get("stop"):
                with contextlib.suppress(OSError):
                    conn.send({"ok": True})
                print(f"tile server pid {os.getpid()}: stopped after {served} tile(s)", flush=True)
                break
            if message is not None:
                served += 1
                reply = run_stage(message["args"], served, conn)
                with contextlib.suppress(OSError):  # the job went away: its retry asks again
                    conn.send(reply)
        last = time.monotonic()
    listener.close()


def run_stage(args: tuple, served: int, conn: Connection) -> dict[str, Any]:
    """``steps.stage(*args)``, its printed output and log records captured for the job's log; abandoned
    (this process exits) if the job's connection closes first."""
    from ..pipeline import steps
    from ..pipeline.job import peak_rss_mb

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
    logging.getLogger().addHandler(handler)
    t0 = time.perf_counter()
    done_read, done_write = os.pipe()
    watcher = threading.Thread(target=abandon_if_gone, args=(conn, args[1], done_read), daemon=True)
    watcher.start()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            steps.stage(*args)
        reply: dict[str, Any] = {"ok": True}
    except Exception as err:
        reply = {"ok": False, "error": portable(err), "traceback": traceback.format_exc()}
    finally:
        logging.getLogger().removeHandler(handler)
        os.write(done_write, b"x")
        watcher.join()
        os.close(done_read)
        os.close(done_write)
    print(f"tile server pid {os.getpid()}: tile {args[1]} {'done' if reply['ok'] else 'failed'} in "
          f"{time.perf_counter() - t0:.2f} s (its tile {served})", flush=True)
    return {**reply, "output": out.getvalue(), "served": served, "pid": os.getpid(),
            "peak_rss_mb": peak_rss_mb()}


def abandon_if_gone(conn: Connection, tile: int, done: int) -> None:
    """Exit this process at once if the job's connection closes before the tile is ``done`` (a pipe
    written then): the job was killed, and its tile is no longer this server's to write."""
    ready, _, _ = select.select([conn.fileno(), done], [], [])
    if done not in ready:
        print(f"tile server pid {os.getpid()}: the job of tile {tile} is gone; abandoning the tile and "
              "exiting", file=sys.__stdout__, flush=True)
        os._exit(1)


def portable(err: Exception) -> Exception:
    """``err`` itself if it survives pickling (type and message intact), else a ServerError naming it."""
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:
        return ServerError(f"{type(err).__name__}: {err}")


if __name__ == "__main__":  # through the package, so that pickled errors name patchworks' own classes
    from patchworks.servers import tile as here

    here.serve("\0" + sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
