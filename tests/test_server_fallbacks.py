"""Servers are never the reason a run fails (``patchworks.servers``): each way a job can fail to use
a tile server or the job fork server makes it run its step in its own process, with one warning in
its log, and the labels stay exact.

Real workflow runs with a served custom method. Another user's processes hold the names a run uses
(run as ``nobody``: root only), a server that never answers, a work directory where servers cannot
log; and at the socket level, a server refuses another user's connection.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import pytest
import zarr
from runs import RUN_DIR, custom_config, make_image, write_config
from scipy import ndimage

from patchworks.servers import channel, process, tile

NOBODY = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="another user's processes need root")


def squatter(names: Connection) -> None:
    """As ``nobody``: bind and listen at each name received, until told to stop (None)."""
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    held = []
    while (received := names.recv()) is not None:
        for name in received:
            held.append(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            held[-1].bind(name)
            held[-1].listen(1)
        names.send("bound")


def as_nobody() -> tuple[multiprocessing.Process, Connection]:
    """A process of user ``nobody`` that holds the names sent to it."""
    ours, theirs = multiprocessing.Pipe()
    proc = multiprocessing.get_context("fork").Process(target=squatter, args=(theirs,), daemon=True)
    proc.start()
    return proc, ours

WARNING = "patchworks: warning: no tile server ("


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    """A 2-tile image and the custom method's module (served)."""
    folder = tmp_path_factory.mktemp("fallbacks")
    (folder / "pw_fallback_seg.py").write_text("from scipy import ndimage\n\n\ndef segment(tile, value):\n"
                                               "    return ndimage.label(tile > value)[0]\n")
    store = folder / "image.ome.zarr"
    return folder, store, make_image(store, "yx", (16, 32), seed=4)


def run(tmp_path: Path, case, cores: int, before: Callable[[dict, int], None] | None = None,
        ) -> tuple[subprocess.CompletedProcess, Path]:
    """The workflow, served, with ``before(config, snakemake_pid)`` called as Snakemake starts; its
    result and work directory (labels checked exact)."""
    module, store, image = case
    config = custom_config(store, tmp_path / "work", {"value": 600}, [16, 16])
    config["method"]["custom"].update(function="pw_fallback_seg:segment", server=True)
    config["output"]["overwrite"] = True
    cfg = write_config(tmp_path, config)
    path = os.pathsep.join(filter(None, [str(module), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--configfile", str(cfg)]
    proc = subprocess.Popen(command, cwd=RUN_DIR, env={**os.environ, "PYTHONPATH": path},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if before is not None:
        before(config, proc.pid)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-6000:]
    got = zarr.open_group(str(store / "labels" / "custom"), mode="r")["0"][...]
    ref, n = ndimage.label(image > 600)
    pairs = np.unique(np.stack([got.ravel(), ref.ravel()]), axis=1)  # equal up to renumbering
    assert n > 2 and pairs.shape[1] == n + 1 and len(np.unique(pairs[0])) == n + 1
    return subprocess.CompletedProcess(proc.args, proc.returncode, out), tmp_path / "work" / "custom"


def stage_logs(work: Path) -> list[str]:
    logs = [p.read_text() for p in sorted((work / "logs" / "stage").glob("*.log"))]
    assert len(logs) == 2
    return logs


def in_own_process(log: str, reason: str) -> bool:
    """Whether the stage job ran its tile itself after one warning giving ``reason``."""
    return log.count(WARNING) == 1 and reason in log and "in tile server pid" not in log


@needs_root
def test_names_held_by_another_user(tmp_path: Path, case) -> None:
    """The old fixed socket folder, a slot's claim and the next slot's server name, all taken by
    ``nobody`` before the run's jobs start: every stage job runs on its own, the run is exact."""
    old_folder = Path(f"/tmp/patchworks-{os.getuid()}")
    made = not old_folder.exists()
    squatter, names = as_nobody()

    def squat(config: dict, pid: int) -> None:
        names.send([channel.address("slot", [[str(RUN_DIR), *tile.run_key(config)[1:]], tile.node_key(), 0]),
                    server_address(config, pid, 1)])
        assert names.recv() == "bound"

    try:
        if made:
            old_folder.mkdir(mode=0o700)
            os.chown(old_folder, NOBODY, NOBODY)
        _, work = run(tmp_path, case, cores=1, before=squat)
    finally:
        names.send(None)
        squatter.join(10)
        if made:
            old_folder.rmdir()
    reason = f"held by another user's process (uid {NOBODY}"
    assert all(in_own_process(log, reason) for log in stage_logs(work))


def server_address(config: dict, pid: int, slot: int) -> str:
    """The address of a slot's tile server as the run's jobs (working in the run's folder) compute it."""
    key = [[str(RUN_DIR), *tile.run_key(config)[1:]], tile.node_key(), pid, slot]
    return channel.address("tile", key)


def test_server_that_never_answers(tmp_path: Path, case) -> None:
    """A server that accepts no connection (wedged, stopped): each stage job gives up after a bounded
    wait and runs on its own, and the run's end (which stops its servers) does not hang either."""
    held: list[socket.socket] = []

    def wedge(config: dict, pid: int) -> None:
        held.append(channel.bind(server_address(config, pid, 0), backlog=8))

    try:
        proc, work = run(tmp_path, case, cores=1, before=wedge)
    finally:
        for sock in held:
            sock.close()
    reason = f"did not answer within {channel.ANSWER_SECONDS:.0f} s"
    assert all(in_own_process(log, reason) for log in stage_logs(work)), stage_logs(work)


def test_servers_cannot_log(tmp_path: Path, case) -> None:
    """The servers' log folder cannot be made (a file stands there): no fork server and no tile server;
    every job runs in its own interpreter, saying so once."""
    logs = tmp_path / "work" / "custom" / "logs"
    logs.mkdir(parents=True)
    (logs / "server").write_text("not a folder")
    _, work = run(tmp_path, case, cores=2)
    for log in stage_logs(work):
        assert in_own_process(log, "cannot create the servers' log folder"), log
        assert log.count("no job fork server (cannot create the servers' log folder") <= 1
    others = [p.read_text() for p in (work / "logs").rglob("*.log") if p.parent.name in {"faces", "relabel"}]
    assert others and all("forked by the job fork server" not in log for log in others)


@needs_root
def test_server_refuses_another_users_connection() -> None:
    """At the socket level: a server closes another user's connection unanswered, and greets its own
    user's."""
    name = channel.address("test", os.getpid())
    with channel.bind(name, backlog=2) as listener:
        ours, theirs = multiprocessing.Pipe()
        other = multiprocessing.get_context("fork").Process(target=connect_as_nobody, args=(name, theirs))
        other.start()
        assert channel.accept(listener) is None
        assert ours.recv() == b""  # closed before any greeting
        other.join(10)
        accepted: list = []
        thread = threading.Thread(target=lambda: accepted.append(channel.accept(listener)))
        thread.start()
        conn, pid = channel.connect(name, "test")
        thread.join()
        with conn, accepted[0]:
            assert pid == os.getpid()


def connect_as_nobody(name: str, result: Connection) -> None:
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(name)
        result.send(sock.recv(100))


def test_a_process_is_watched_with_a_pidfd_or_by_polling() -> None:
    """Servers watch their Snakemake through a pidfd, or (kernels before 5.3, which lack pidfd_open)
    a pipe that polling writes to: both become readable once the process has ended, not before."""
    for watch_of in (lambda pid: process.Watch(pid).fileno(), process.polled):
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1)"])
        fd = watch_of(proc.pid)
        assert not select.select([fd], [], [], 0.2)[0], "readable while the process runs"
        proc.wait()  # reaped: as with a zombie, either way the process has ended
        assert select.select([fd], [], [], process.POLL_SECONDS + 5)[0], "not readable once it ended"
        os.close(fd)
