"""Writer locks: one process at a time writes what a lock guards, also across runs and hosts."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


@contextlib.contextmanager
def exclusive(path: str | Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock (``flock``) on ``path`` while the block runs, after any earlier holder
    (the job of a killed run that still writes ``what``) has finished: it waits for it, saying so once.
    The lock goes with the process that holds it, however it ends. Where the file system has no locks,
    it warns and runs the block unlocked."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            print(f"patchworks: waiting for another writer of {what} ({holder}) to finish", file=sys.stderr,
                  flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as err:
            if err.errno not in UNSUPPORTED:
                raise
            print(f"patchworks: warning: {path.parent} has no file locks ({err.strerror}); {what} is written "
                  "unlocked", file=sys.stderr, flush=True)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        yield
    finally:
        os.close(fd)
