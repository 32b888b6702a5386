"""One run per experiment at a time: an exclusive lock on a file beside its results.

``fcntl.flock`` locks belong to the open file: the kernel releases them when the process
exits, however it exits (kill -9 included), so a lock can never be left stale by a dead run.
The file itself stays and says who held it last.

Across hosts: on a results folder shared over NFSv4 or a cluster filesystem that implements
``flock`` (Linux's NFS client maps it onto NFS byte-range locks), a run on another host is
refused the same way. A filesystem without working locks cannot protect a shared folder:
give each host its own ``--results-dir`` there.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path
from typing import Iterator

from .errors import UserError
from .manifest import now


@contextlib.contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    """Hold the lock ``path`` for the block, or fail at once with one line naming the holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "unknown"
            raise UserError(f"{what} is in use by another run ({holder}, lock {path}); "
                            f"wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {now()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
