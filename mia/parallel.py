"""Independent CPU jobs (attack fits, figures) on worker processes.

scipy's KDE, scikit-learn's metrics and matplotlib hold the GIL, so threads cannot run them
in parallel; processes can. Every job's result depends only on its arguments, so the number
of workers never changes a result, only how long the stage takes.

Workers are started with ``spawn`` (a fresh interpreter: no threads, locks or CUDA state
inherited from a process that trained a model) and reused for the life of the process, so
the start-up cost (imports, about a second) is paid once. Job functions must be importable
module-level functions; keep them in modules that do not import torch (``attacks``,
``plots``), so that the workers stay small and start fast.
"""
from __future__ import annotations

import ctypes
import functools
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor, wait
from typing import Callable, Iterable, Sequence


def process_map(fn: Callable, jobs: Iterable[Sequence], workers: int = 1,
                on_done: Callable[[], None] | None = None) -> list:
    """``[fn(*job) for job in jobs]``, computed on ``workers`` processes (here, if 1).

    Results come back in the order of ``jobs``; ``on_done()`` is called once per finished
    job (a progress bar's update). The first exception in a job is raised here, after the
    jobs not yet started are cancelled and those running have finished: nothing of this
    call still runs (or writes) once it has returned or raised.
    """
    jobs = [tuple(job) for job in jobs]
    if workers < 1:
        raise ValueError(f"need at least one worker, got {workers}")
    out = []
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            out.append(fn(*job))
            if on_done is not None:
                on_done()
        return out
    pool = _pool(workers)
    futures = [pool.submit(fn, *job) for job in jobs]
    try:
        for future in futures:
            out.append(future.result())
            if on_done is not None:
                on_done()
    except BaseException:
        for f in futures:
            f.cancel()
        wait(futures)  # the running ones: let them finish before anyone cleans up after them
        raise
    return out


@functools.cache
def _pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_die_with_parent, initargs=(os.getpid(),))


def release_freed_memory() -> None:
    """Return the heap memory this process has freed to the system (glibc's ``malloc_trim``):
    large arrays freed by numpy and PyTorch otherwise stay resident. Elsewhere a no-op."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _die_with_parent(parent: int) -> None:
    """Worker start-up: ask Linux to SIGKILL this worker when its parent dies (kill -9
    included), so no worker outlives the run. Elsewhere a no-op."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def available_cpus() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
