"""Tile servers: a model method's import and model load paid once per process, not once per tile.

A stage job of a served method (``method.<name>.server``) hands its tile to a long-lived process on
its node that runs the very same ``steps.stage`` for tile after tile, its model loaded once. The job
takes a free slot (a non-blocking flock: as many servers as stage jobs run at once on the node, each
used by one job at a time), connects to the slot's Unix socket and sends its arguments; when nobody
answers there (no server yet, or the stale socket of a dead one) it starts one: the same interpreter,
detached, logging to ``<workdir>/<label>/logs/server/``. The reply is ok, with what the step printed
(copied to the job's log), or the step's error, which the job raises as its own. A server that dies
mid-tile fails that job alone; its retry starts a new server. A server exits after ``IDLE_SECONDS``
without work, when the run ends (``stop``: the Snakefile's onsuccess / onerror), and as soon as
the Snakemake process that ran the job that started it is gone (a killed run; on SLURM, the end
of the SLURM job, whose Snakemake runs one job or a group's jobs), so that no server outlives its
run or its allocation.

Servers are keyed by the run (working directory, work directory, method section) and the node
(host, interpreter, CUDA_VISIBLE_DEVICES, SLURM_JOB_ID): under SLURM a server serves the jobs of its
own allocation only.

A bundle of stage jobs in one SLURM job (a group: ``profiles/stage-bundles``) runs each job in a job
step of its own, and SLURM ends a step's processes with it. So the Snakemake process that runs the
bundle starts a launcher (``serve_bundle``, from the Snakefile) that lives as long as the bundle,
and the bundle's jobs have it start their server (with the job's own interpreter: that of a conda
environment, too), which then serves every tile of the bundle.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import itertools
import json
import logging
import os
import pickle
import socket
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

IDLE_SECONDS = 60.0
POLL_SECONDS = 1.0  # how often an idle server checks that its Snakemake process is still there
SHELLS = {"sh", "bash", "dash", "zsh"}
START_SECONDS = 300.0  # for a new server to answer (the interpreter and patchworks import)
HEADER = struct.Struct("!Q")
SERVER = [sys.executable, "-m", "patchworks.segment.server"]  # a server or a launcher
SNAKEMAKE_PID = "PATCHWORKS_SNAKEMAKE_PID"  # set in a job forked by the job fork server


class ServerError(RuntimeError):
    """A tile server did not answer or died while it segmented the job's tile."""


def serves(method: dict[str, Any]) -> bool:
    """Whether the method's stage jobs hand their tiles to a tile server."""
    return bool(method.get(method["name"], {}).get("server", False))


def stage(config: dict[str, Any], tile: int, threshold_file: str | None, normalization_file: str | None,
          output: str) -> None:
    """``steps.stage`` in a tile server of this node. The server writes the tile's record next to
    ``output``; only this job moves it in place, so a job killed meanwhile leaves none."""
    partial = f"{output}.served"
    with slot(config) as path:
        reply = request(path, config, {"args": (config, tile, threshold_file, normalization_file, partial)})
    sys.stdout.write(reply["output"])
    print(f"patchworks stage: in tile server pid {reply['pid']} (its tile {reply['served']}; peak RSS "
          f"{reply['peak_rss_mb']:.1f} MB; log {server_log(config, path)})")
    if not reply["ok"]:
        print(reply["traceback"], file=sys.stderr, end="")
        raise reply["error"]
    os.replace(partial, output)


def private_root() -> Path:
    """The folder of this user's server sockets: a short path (a socket's is at most ~100 bytes),
    private to this user."""
    root = Path("/tmp") / f"patchworks-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    info = root.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ServerError(f"{root} belongs to another user or is open to others; remove it")
    return root


def run_dir(config: dict[str, Any]) -> Path:
    """The sockets and slot locks of one run's servers."""
    run = [os.getcwd(), os.path.abspath(os.path.join(config["workdir"], config["output"]["label_name"])),
           config["method"]]
    folder = private_root() / digest(run)
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def node_key() -> str:
    """What a server must share with the jobs it serves, besides the run."""
    return digest([socket.gethostname(), sys.executable, os.environ.get("CUDA_VISIBLE_DEVICES"),
                   os.environ.get("SLURM_JOB_ID")])


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


@contextlib.contextmanager
def slot(config: dict[str, Any]) -> Iterator[Path]:
    """The socket path of the first slot no other job of this node holds; held until the block ends
    (the lock goes with the job's process, however it ends)."""
    folder, node = run_dir(config), node_key()
    for n in itertools.count():
        fd = os.open(folder / f"{node}-{n}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield folder / f"{node}-{n}.sock"
        finally:
            os.close(fd)
        return


def server_log(config: dict[str, Any], path: Path) -> str:
    return os.path.join(config["workdir"], config["output"]["label_name"], "logs", "server",
                        f"{socket.gethostname()}-{path.stem}.log")


def log_file(config: dict[str, Any], path: Path) -> Path:
    """The log of the process that listens at ``path``, its folder made."""
    log = Path(server_log(config, path))
    log.parent.mkdir(parents=True, exist_ok=True)
    return log


def request(path: Path, config: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """Send ``message`` to the server at ``path`` (started when none answers) and return its reply."""
    found = connect(path) or start(path, config)
    conn, hello = found
    with conn:
        try:
            send(conn, message)
            reply = receive(conn)
        except OSError:
            reply = None
    if reply is None:
        tile = message["args"][1]
        raise ServerError(f"the tile server (pid {hello['pid']}) died while segmenting tile {tile} (killed? "
                          f"out of memory?); its log: {server_log(config, path)}. The job's retry, or the "
                          "next run, starts a new server")
    return reply


def connect(path: Path) -> tuple[socket.socket, dict[str, Any]] | None:
    """A connection to the server at ``path`` and its greeting; None when no server answers there."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
        hello = receive(conn)  # None: the server was closing (idle) as we connected
    except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError):
        hello = None
    if hello is None:
        conn.close()
        return None
    return conn, hello


def start(path: Path, config: dict[str, Any]) -> tuple[socket.socket, dict[str, Any]]:
    """Start a server at ``path`` (replacing a stale socket) and connect to it."""
    path.unlink(missing_ok=True)
    log = log_file(config, path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, sys.path))}  # this job's imports
    command = [*SERVER, str(path), str(IDLE_SECONDS)]
    pid = launch_in_bundle(config, command, env, log) or spawn([*command, str(snakemake_pid())], env, log)
    deadline = time.monotonic() + START_SECONDS
    while (found := connect(path)) is None:
        if not alive(pid) or time.monotonic() > deadline:
            tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-20:])
            raise ServerError(f"a tile server (pid {pid}) did not start; its log {log} ends:\n{tail}")
        time.sleep(0.05)
    return found


def spawn(command: list[str], env: dict[str, str], log: Path, fds: tuple[int, ...] = ()) -> int:
    """Start ``command`` detached (its own session), output to ``log``; its pid."""
    with open(log, "a") as fh:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True, close_fds=True, pass_fds=fds).pid


def launcher_path(config: dict[str, Any]) -> Path:
    return run_dir(config) / f"launcher-{os.environ['SLURM_JOB_ID']}.sock"


def serve_bundle(config: dict[str, Any], argv: list[str]) -> bool:
    """Start the launcher of a bundle's tile servers, when this process (``argv``: Snakemake's
    command line) runs a bundle of stage jobs in its SLURM job; it lives as long as this process.
    Its socket is bound here, so the bundle's first job finds it. Whether one was started."""
    bundle = "--local-groupid" in argv and "stage" in option_values(argv, "--allowed-rules")
    if not (serves(config["method"]) and bundle and "SLURM_JOB_ID" in os.environ
            and "SLURM_STEP_ID" not in os.environ):
        return False
    path = launcher_path(config)
    path.unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen()
        command = [*SERVER, "--launcher", str(listener.fileno()), str(os.getpid())]
        spawn(command, dict(os.environ), log_file(config, path), fds=(listener.fileno(),))
    return True


def option_values(argv: list[str], option: str) -> list[str]:
    """The values after ``option`` on a command line, up to the next option."""
    values = argv[argv.index(option) + 1:] if option in argv else []
    return values[:next((i for i, v in enumerate(values) if v.startswith("-")), len(values))]


def launch_in_bundle(config: dict[str, Any], command: list[str], env: dict[str, str],
                     log: Path) -> int | None:
    """Have the launcher of this job's bundle start ``command`` (a server, which then lives as long
    as the bundle); its pid, or None outside a bundle."""
    if "SLURM_STEP_ID" not in os.environ or not (path := launcher_path(config)).exists():
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        try:
            conn.connect(str(path))
            send(conn, {"command": command, "env": env, "log": str(log)})
            reply = receive(conn)
        except OSError:
            return None
    return None if reply is None else reply["pid"]


def launcher(fd: int, watched: int) -> None:
    """A bundle's launcher: start the servers its jobs ask for, each watching this process, until
    process ``watched`` (the bundle's Snakemake) is gone."""
    listener = socket.socket(fileno=fd)
    listener.settimeout(POLL_SECONDS)
    print(f"launcher pid {os.getpid()}: for the bundle of Snakemake pid {watched}", flush=True)
    while alive(watched):
        with contextlib.suppress(ChildProcessError):  # servers that exited: reaped, so none lingers
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(START_SECONDS)
            with contextlib.suppress(OSError):
                message = receive(conn)
                pid = spawn([*message["command"], str(os.getpid())], message["env"], Path(message["log"]))
                print(f"launcher pid {os.getpid()}: started tile server pid {pid}", flush=True)
                send(conn, {"pid": pid})
    print(f"launcher pid {os.getpid()}: its Snakemake (pid {watched}) is gone, exiting", flush=True)
    path = listener.getsockname()
    listener.close()
    with contextlib.suppress(OSError):
        os.unlink(path)


def snakemake_pid() -> int:
    """The Snakemake process that runs this job: the job's parent, or the shell's parent when
    Snakemake ran the job's script through a shell, or the one the job fork server was told of."""
    if SNAKEMAKE_PID in os.environ:
        return int(os.environ[SNAKEMAKE_PID])
    pid = os.getppid()
    if read_proc(pid, "comm") in SHELLS:
        pid = int(read_proc(pid, "stat").rsplit(")", 1)[1].split()[1])
    return pid


def read_proc(pid: int, name: str) -> str:
    try:
        return Path(f"/proc/{pid}/{name}").read_text().strip()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie does not)."""
    stat = read_proc(pid, "stat")
    return bool(stat) and stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop(config: dict[str, Any]) -> int:
    """Stop this run's idle servers on this node and remove their sockets; how many were running
    (none when the method is not served)."""
    if not serves(config["method"]):
        return 0
    folder = run_dir(config)
    sockets = sorted(p for p in folder.glob("*.sock") if not p.name.startswith("launcher-"))  # a bundle's
    stopped = 0
    for path in sockets:
        found = connect(path)
        if found:
            with found[0] as conn:
                send(conn, {"stop": True})
                receive(conn)
            stopped += 1
    for lock in folder.glob("*.lock"):
        lock.unlink()
    with contextlib.suppress(OSError):
        for path in sockets:
            path.unlink()
        folder.rmdir()
    return stopped


def send(conn: socket.socket, message: Any, fds: list[int] | None = None) -> None:
    """Send ``message``, with the file descriptors ``fds`` (passed along with its first bytes)."""
    body = pickle.dumps(message)
    data = HEADER.pack(len(body)) + body
    sent = socket.send_fds(conn, [data], fds) if fds else 0
    if sent < len(data):  # nothing more once all is sent: the peer may be done and gone by then
        conn.sendall(data[sent:])


def receive(conn: socket.socket, first: bytes = b"") -> Any:
    """The next message (of which ``first`` bytes were read already), or None when the peer closed the
    connection first."""
    header = first + (read_exactly(conn, HEADER.size - len(first)) or b"")
    if len(header) < HEADER.size:
        return None
    data = read_exactly(conn, HEADER.unpack(header)[0])
    return None if data is None else pickle.loads(data)


def receive_fds(conn: socket.socket, n: int) -> tuple[Any, list[int]]:
    """The next message and up to ``n`` file descriptors sent with it (:func:`send`); (None, []) when the
    peer closed the connection first."""
    first, fds, _, _ = socket.recv_fds(conn, HEADER.size, n)
    try:
        message = receive(conn, first) if first else None
    except Exception:
        message = None
    if message is None:
        for fd in fds:
            os.close(fd)
        return None, []
    return message, fds


def read_exactly(conn: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = conn.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------- the server process


def serve(path: str, idle: float, watched: int) -> None:
    """Listen at ``path`` and run ``steps.stage`` for each request, one at a time, until ``idle``
    seconds pass without one, a stop request comes or process ``watched`` (Snakemake) is gone."""
    from ..pipeline.rule import tune_malloc

    tune_malloc()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    inode = os.stat(path).st_ino
    listener.listen()
    listener.settimeout(POLL_SECONDS)
    print(f"tile server pid {os.getpid()}: listening on {path} ({sys.executable})", flush=True)
    served, last = 0, time.monotonic()
    while True:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            if not alive(watched):
                print(f"tile server pid {os.getpid()}: its Snakemake or bundle launcher (pid {watched}) is "
                      "gone, exiting", flush=True)
                break
            if time.monotonic() - last > idle:
                print(f"tile server pid {os.getpid()}: idle for {idle:.0f} s, exiting", flush=True)
                break
            continue
        with conn:
            conn.settimeout(None)
            try:
                send(conn, {"pid": os.getpid()})
                message = receive(conn)
                if message is None:
                    continue
                if message.get("stop"):
                    send(conn, {"ok": True})
                    print(f"tile server pid {os.getpid()}: stopped after {served} tile(s)", flush=True)
                    break
                served += 1
                send(conn, run_stage(message["args"], served))
            except OSError as err:  # the job went away (killed); its retry asks again
                print(f"tile server pid {os.getpid()}: lost the job's connection: {err}", flush=True)
        last = time.monotonic()
    with contextlib.suppress(OSError):  # unless a newer server replaced it
        if os.stat(path).st_ino == inode:
            os.unlink(path)
    listener.close()


def run_stage(args: tuple, served: int) -> dict[str, Any]:
    """``steps.stage(*args)``, its printed output and log records captured for the job's log."""
    from ..pipeline import steps
    from ..pipeline.rule import peak_rss_mb

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
    logging.getLogger().addHandler(handler)
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            steps.stage(*args)
        reply: dict[str, Any] = {"ok": True}
    except Exception as err:
        reply = {"ok": False, "error": portable(err), "traceback": traceback.format_exc()}
    finally:
        logging.getLogger().removeHandler(handler)
    print(f"tile server pid {os.getpid()}: tile {args[1]} {'done' if reply['ok'] else 'failed'} in "
          f"{time.perf_counter() - t0:.2f} s (its tile {served})", flush=True)
    return {**reply, "output": out.getvalue(), "served": served, "pid": os.getpid(),
            "peak_rss_mb": peak_rss_mb()}


def portable(err: Exception) -> Exception:
    """``err`` itself if it survives pickling (type and message intact), else a ServerError naming it."""
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:
        return ServerError(f"{type(err).__name__}: {err}")


if __name__ == "__main__":  # through the package, so that pickled errors name patchworks' own classes
    from patchworks.segment import server as here

    if sys.argv[1] == "--launcher":
        here.launcher(int(sys.argv[2]), int(sys.argv[3]))
    else:
        here.serve(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
