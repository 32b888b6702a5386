"""CPU workers: threads that each run PyTorch ops on one intra-op thread, and the process-wide
setting of how many there are (``configure_cpu``). The training engine cuts work into items
(shards, models, evaluation chunks); which thread runs an item never changes a result."""
from __future__ import annotations

import ctypes
import functools
from concurrent.futures import ThreadPoolExecutor

import torch

from ..errors import UserError
from ..parallel import available_cpus


class CpuWorkers:
    """``n`` threads that each run PyTorch ops on one intra-op thread.

    ``map(fn, items)`` returns ``[fn(item) for item in items]`` in order; each item goes to
    whichever thread comes free first. PyTorch releases the GIL inside its kernels, so the
    threads compute in parallel. Nothing here changes any result: that depends only on how
    the work was cut into items. Work running inside a task must not use the same pool (its
    threads may all be waiting): give nested work ``SERIAL``, as the many-models loop does.
    """

    def __init__(self, n: int):
        if n < 1:
            raise ValueError(f"need at least one worker, got {n}")
        self.n = n
        self._pool = (ThreadPoolExecutor(n, thread_name_prefix="mia-cpu",
                                         initializer=torch.set_num_threads, initargs=(1,))
                      if n > 1 else None)

    def map(self, fn, items) -> list:
        if self._pool is None:
            return [fn(item) for item in items]
        return list(self._pool.map(fn, items))

    def imap(self, fn, items):
        """Like ``map``, yielding each result (in order) as soon as it and those before it are done."""
        if self._pool is None:
            return (fn(item) for item in items)
        return self._pool.map(fn, items)


SERIAL = CpuWorkers(1)
_cpu_worker_count: int | None = None  # set by configure_cpu


def configure_cpu(workers: int | None = None) -> int:
    """CPU work from now on runs on ``workers`` threads (default: every core available).

    PyTorch's own intra-op threading is set to 1 thread: the parallelism is ours (shards,
    models, evaluation chunks), so float sums never depend on the thread count. Returns the
    worker count.
    """
    global _cpu_worker_count
    if workers is not None and workers < 1:
        raise UserError(f"CPU workers must be >= 1, got {workers}")
    torch.set_num_threads(1)
    keep_freed_memory()
    _cpu_worker_count = workers or available_cpus()
    return _cpu_worker_count


def cpu_workers() -> CpuWorkers:
    """The worker pool of the current ``configure_cpu`` setting (its defaults if never called)."""
    if _cpu_worker_count is None:
        configure_cpu()
    return _pool_of(_cpu_worker_count)


@functools.cache
def _pool_of(n: int) -> CpuWorkers:
    return SERIAL if n == 1 else CpuWorkers(n)


@functools.cache
def keep_freed_memory() -> bool:
    """Let glibc keep freed activation buffers instead of returning them to the OS.

    A CPU training step frees and reallocates the same megabyte-sized buffers every step. By
    default glibc unmaps or trims them and the next step faults the pages back in: about 180
    page faults per step at batch 64 (``getrusage``), about a tenth of the step's time.
    Raising the mmap threshold to 32 MiB and the trim threshold and top pad to 256 MiB makes
    that about one fault per step. No effect on any result; a no-op without glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # from <malloc.h>
    return bool(libc.mallopt(m_mmap_threshold, 32 << 20) and libc.mallopt(m_trim_threshold, 256 << 20)
                and libc.mallopt(m_top_pad, 256 << 20))
