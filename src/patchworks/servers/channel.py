"""Connections between a job and a server of the same user on one node: Linux abstract Unix sockets.

An abstract socket has a name but no file: nothing in ``/tmp`` can be taken in advance, made
unusable or left stale, and a name lasts exactly as long as the socket bound to it. Anyone on the
node may bind any name, so both ends check the peer's credentials (``SO_PEERCRED``, set by the
kernel): a server answers only its own user's jobs, and a job talks only to its own user's servers
(a name that another user holds makes the job run on its own: :class:`Unavailable`). Messages are
framed and pickled by ``multiprocessing.connection``; file descriptors go along as ``SCM_RIGHTS``
(``multiprocessing.reduction``). Every wait for a server's answer is bounded, except for the
reply to a request, which takes as long as the work it asks for.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import struct
import sys
from multiprocessing import reduction
from multiprocessing.connection import Connection
from typing import Any

ANSWER_SECONDS = 10.0  # for a server to accept a connection and greet, or to answer a stop
CREDENTIALS = struct.Struct("3i")  # pid, uid, gid


class Unavailable(RuntimeError):
    """No server can be used for this job, which then runs its step in its own process."""


def unsupported() -> str | None:
    """Why servers cannot run on this machine; None where they can (Linux: abstract sockets, pidfds)."""
    if sys.platform != "linux":
        return f"servers run on Linux only (this is {sys.platform})"
    return None


def address(kind: str, key: Any) -> str:
    """The abstract socket name of ``kind`` for ``key`` (any JSON-able value), this user's."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return f"\0patchworks-{os.getuid()}-{kind}-{digest}"


def bind(name: str, backlog: int | None = None) -> socket.socket | None:
    """A socket bound to ``name``, listening with ``backlog`` (None: bound only, a claim on the name
    held while the socket is open); None when the name is taken."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(name)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            return None
        raise Unavailable(f"cannot bind a Unix socket: {err}") from err
    if backlog is not None:
        sock.listen(backlog)
    return sock


def peer(sock: socket.socket) -> tuple[int, int]:
    """The pid and uid of the process at the other end of ``sock`` (as the kernel saw them)."""
    pid, uid, _ = CREDENTIALS.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, CREDENTIALS.size))
    return pid, uid


def connect(name: str, what: str) -> tuple[Connection, int] | None:
    """A connection to the server listening at ``name`` and its pid, once it has greeted; None when
    nothing listens there (or the server was closing). :class:`Unavailable` when another user holds
    the name or the server does not greet within ``ANSWER_SECONDS``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(ANSWER_SECONDS)
    try:
        sock.connect(name)
    except (ConnectionRefusedError, FileNotFoundError):
        sock.close()
        return None
    except OSError as err:
        sock.close()
        raise Unavailable(f"{what} did not accept a connection within {ANSWER_SECONDS:.0f} s ({err})"
                          ) from err
    pid, uid = peer(sock)
    if uid != os.getuid():
        sock.close()
        raise Unavailable(f"the socket name of {what} is held by another user's process (uid {uid}, "
                          f"pid {pid})")
    sock.setblocking(True)
    conn = Connection(sock.detach())
    if not conn.poll(ANSWER_SECONDS):
        conn.close()
        raise Unavailable(f"{what} (pid {pid}) did not answer within {ANSWER_SECONDS:.0f} s")
    if receive(conn) is None:
        conn.close()
        return None
    return conn, pid


def accept(listener: socket.socket) -> Connection | None:
    """The next connection of this user's processes, greeted; None for another user's (closed) or one
    gone before the greeting."""
    sock, _ = listener.accept()
    pid, uid = peer(sock)
    if uid != os.getuid():
        print(f"pid {os.getpid()}: refused a connection of another user's process (uid {uid}, pid {pid})",
              flush=True)
        sock.close()
        return None
    sock.setblocking(True)
    conn = Connection(sock.detach())
    try:
        conn.send({"pid": os.getpid()})
    except OSError:
        conn.close()
        return None
    return conn


def send(conn: Connection, message: Any, fds: list[int] | None = None) -> None:
    """Send ``message``, then the file descriptors ``fds``."""
    conn.send(message)
    if fds:
        with socket.socket(fileno=os.dup(conn.fileno())) as sock:
            reduction.sendfds(sock, fds)


def receive(conn: Connection, seconds: float | None = None) -> Any:
    """The next message; None when the peer closed the connection (or sent nothing in ``seconds``)."""
    try:
        if seconds is not None and not conn.poll(seconds):
            return None
        return conn.recv()
    except (EOFError, OSError):
        return None


def receive_fds(conn: Connection, n: int, seconds: float) -> tuple[Any, list[int]]:
    """The next message and the ``n`` file descriptors sent with it; (None, []) when the peer closed
    the connection first or sent nothing in ``seconds``."""
    message = receive(conn, seconds)
    if message is None:
        return None, []
    try:
        with socket.socket(fileno=os.dup(conn.fileno())) as sock:
            return message, reduction.recvfds(sock, n)
    except (EOFError, OSError, RuntimeError):
        return None, []
