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

import functools
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, Sequence


def process_map(fn: Callable, jobs: Iterable[Sequence], workers: int = 1,
                on_done: Callable[[], None] | None = None) -> list:
    """``[fn(*job) for job in jobs]``, computed on ``workers`` processes (here, if 1).

    Results come back in the order of ``jobs``; ``on_done()`` is called once per finished
    job (a progress bar's update). An exception in a job is raised here.
    """
    jobs = [tuple(job) for job in jobs]
    if workers < 1:
        raise ValueError(f"need at least one worker, got {workers}")
    if workers == 1 or len(jobs) <= 1:
        results = (fn(*job) for job in jobs)
    else:
        results = _pool(workers).map(_call, [(fn, job) for job in jobs])
    out = []
    for result in results:
        out.append(result)
        if on_done is not None:
            on_done()
    return out


def _call(fn_and_job: tuple[Callable, tuple]):
    fn, job = fn_and_job
    return fn(*job)


@functools.cache
def _pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
