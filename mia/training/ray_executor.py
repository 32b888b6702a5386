"""Training jobs on a Ray cluster (``invoke experiments --executor ray``).

Each batch of pending jobs becomes a Ray task that runs the stage's ``Work.compute`` on a
worker, and its result (the artifacts' bytes) comes back to be committed by the stage, here,
into this machine's cache, exactly as ``LocalExecutor`` commits it. So the artifacts land
where a local run puts them (``--cache``, default ``.cache/``), whichever node trained them,
and a model's weights do not depend on where it ran (on the same hardware and thread
settings: bitwise, tested against ``LocalExecutor``).

Data: ``Work.shared`` (the bank's uint8 images, labels and keep-matrix: 190 MB for CIFAR-10's
60,000 images) goes into Ray's object store once (``ray.put``), and every task reads it from
there. Chosen over a shared path because a Ray cluster always has an object store and not
always a shared filesystem, because the store copies the images to each node once and shares
them there without a copy between that node's workers, and because the task then reads
nothing but its arguments, which is what makes its result the same wherever it runs.

Where: without an address Ray's local instance starts, with every available core (Ray's
default, usable on a laptop); with ``address`` (``--ray-address``), or ``RAY_ADDRESS``, the run
joins that cluster. Each task asks for ``cpus`` CPUs (and ``gpus`` GPUs on a GPU cluster, and
the memory its copy of the images takes: ``Work.memory``) and trains its batch on that many
worker threads (``cpu.configure_cpu``): the weights do not depend on the number
(``many_models._loop``).

Faults: a task whose worker dies is retried by Ray, and so is one that raises
(``retry_exceptions``), up to ``retries`` times; then the run fails with that job's error in
one line, after every other task has finished and its result is committed. A job that refuses
its inputs (a ``UserError``: they would fail the same way again) is not retried, and a result
that cannot be written here (a full disk) fails its job, not the others. Nothing committed
is lost: an interrupted run, rerun, skips every job whose artifact is cached.

Progress: a line each time the count of jobs done, running or pending changes (running: the
task has started on a worker, as a small tracker actor hears from the task itself).
"""
from __future__ import annotations

import os
import threading
import uuid
from dataclasses import dataclass
from typing import Callable, ClassVar

from ..errors import UserError
from ..parallel import available_cpus
from .cpu import configure_cpu
from .jobs import TrainingJob, Work, batches

INSTALL = ("--executor ray needs Ray, which the default install leaves out: run `make cluster` "
           "(or `pip install --require-hashes -r requirements-cluster.txt`)")
POLL_SECONDS = 1.0
# models per GPU task: trained together by the many-models trainer (its "auto" strategy stacks
# them from VMAP_MIN_MODELS); one model alone leaves a GPU mostly idle (docs/performance.md)
GPU_BATCH = 64


def import_ray():
    """The ``ray`` module, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError(INSTALL) from None
    return ray


_connecting = threading.Lock()  # experiments' threads (pipeline.concurrent) connect once


def connect(address: str | None, log=print):
    """Ray, initialised once per process: the cluster at ``address`` (else ``RAY_ADDRESS``), or
    a local instance with every available core when neither is given."""
    ray = import_ray()
    with _connecting:
        if not ray.is_initialized():
            _start(ray, address, log)
    return ray


def _start(ray, address: str | None, log) -> None:
    target = address or os.environ.get("RAY_ADDRESS") or None
    options = dict(include_dashboard=False, log_to_driver=False, logging_level="warning")
    try:
        if target:
            ray.init(address=target, **options)
        else:  # "local": a new instance here, even when a cluster runs on this machine
            ray.init(address="local", num_cpus=available_cpus(), **options)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise UserError(f"cannot start or join Ray at {target or 'a local instance'}: "
                        f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    resources = ray.cluster_resources()
    log(f"ray: {'joined the cluster at ' + target if target else 'started a local instance'} "
        f"({int(resources.get('CPU', 0))} CPUs, {int(resources.get('GPU', 0))} GPUs)")


class _Tracker:
    """Which jobs of each run have started, on which worker process (a Ray actor that needs
    no CPU; one per driver and Ray session, since an actor costs a worker process to start)."""

    def __init__(self):
        self.running: dict[str, dict[str, int]] = {}

    def started(self, run: str, keys: list[str], pid: int) -> None:
        for key in keys:
            self.running.setdefault(run, {})[key] = pid

    def snapshot(self, run: str) -> dict[str, int]:
        return dict(self.running.get(run, {}))

    def forget(self, run: str) -> None:
        self.running.pop(run, None)


_trackers: dict[tuple[str, str], object] = {}  # (node, job) -> this driver's tracker actor


def _tracker(ray):
    """This driver's tracker in the current Ray session. A session started after an earlier
    one's shutdown may reuse its job id (the first job of a new local instance): the node id
    tells them apart, and an earlier session's handle crashes Ray if it is sent."""
    context = ray.get_runtime_context()
    session = (context.get_node_id(), context.get_job_id())
    if session not in _trackers:
        _trackers.clear()  # of an earlier Ray session
        _trackers[session] = ray.remote(_Tracker).options(num_cpus=0).remote()
    return _trackers[session]


@dataclass(frozen=True)
class _Refused:
    """A batch whose compute refused its inputs (a ``UserError``: a diverged training, a
    corrupt checkpoint): the same inputs would fail the same way, so it is not retried."""

    message: str


def _run_batch(compute, shared, batch, inputs, cpus: int, tracker, run: str):
    """The task, on a worker: tell the tracker, then ``compute`` on ``cpus`` threads."""
    configure_cpu(cpus)
    tracker.started.remote(run, [job.key() for job in batch], os.getpid())
    try:
        return compute(shared, batch, inputs)
    except UserError as e:
        return _Refused(str(e))


def _job_name(batch: list[TrainingJob]) -> str:
    job = batch[0]
    what = (f"bank model {job.subset['row']}" if isinstance(job.subset, dict) else "the target")
    return f"{what} (job {job.key()[:12]}{f' and {len(batch) - 1} more' if len(batch) > 1 else ''})"


def _cause(error: BaseException) -> str:
    """The job's own error for a task that raised, else Ray's (a worker that died)."""
    cause = getattr(error, "cause", None) or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}".rstrip(": ")


@dataclass
class RayExecutor:
    """The jobs as Ray tasks of ``batch`` jobs each (``jobs.Executor``)."""

    remote: ClassVar[bool] = True  # jobs run elsewhere: a stage sends what its job reads

    address: str | None = None
    cpus: int = 1                 # CPUs each task asks for (and trains on)
    gpus: float = 0               # GPUs each task asks for
    batch: int = 1
    retries: int = 3              # attempts after the first, for a dead worker or an error
    log: Callable[[str], None] = print
    # job key -> pid of the worker running it, at each poll (the fault test kills one)
    on_running: Callable[[dict[str, int]], None] | None = None

    def run(self, jobs: list[TrainingJob], work: Work, on_batch=None) -> None:
        ray = connect(self.address, self.log)
        shared = ray.put(work.shared)
        # memory: Ray places tasks by it too (each holds its own float32 copy of the images)
        task = ray.remote(_run_batch).options(num_cpus=self.cpus, num_gpus=self.gpus,
                                              max_retries=self.retries, retry_exceptions=True,
                                              **({"memory": work.memory} if work.memory else {}))
        tracker, run = _tracker(ray), uuid.uuid4().hex
        sent = {task.remote(work.compute, shared, chunk, work.inputs(chunk), self.cpus, tracker,
                            run): chunk for chunk in batches(jobs, self.batch)}
        finished: set[str] = set()  # committed or failed for good
        done, said = 0, None
        failed: list[tuple[list[TrainingJob], str]] = []  # (batch, what happened)
        try:
            while sent:
                ready, _ = ray.wait(list(sent), num_returns=1, timeout=POLL_SECONDS)
                for ref in ready:
                    chunk = sent.pop(ref)
                    finished |= {job.key() for job in chunk}
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as e:  # after every retry
                        failed.append((chunk, f"failed {self.retries + 1} times on Ray; the "
                                              f"last error: {_cause(e)}"))
                        continue
                    if isinstance(result, _Refused):
                        failed.append((chunk, f"failed on Ray (not retried: the same inputs "
                                              f"fail the same way): {result.message}"))
                        continue
                    try:
                        work.commit(chunk, result)
                    except Exception as e:  # noqa: BLE001 - raised below, after the others
                        failed.append((chunk, f"came back but could not be written here: "
                                              f"{_cause(e)}"))
                        continue
                    done += len(chunk)
                    if on_batch is not None:
                        on_batch(chunk)
                try:
                    started = ray.get(tracker.snapshot.remote(run))
                except ray.exceptions.RayError:  # the tracker is gone: progress without "running"
                    started = {}
                running = {k: pid for k, pid in started.items() if k not in finished}
                if self.on_running is not None:
                    self.on_running(running)
                said = self._say(work.label, len(jobs), done, len(running),
                                 len(finished) - done, said)
        finally:
            for ref in sent:  # interrupted: nothing more starts (what is committed stays)
                ray.cancel(ref, force=True)
            tracker.forget.remote(run)
        if failed:
            chunk, what = failed[0]
            more = f" ({len(failed) - 1} more jobs failed too)" if len(failed) > 1 else ""
            raise UserError(f"{_job_name(chunk)} {what}{more}; every other result is cached, "
                            f"and a rerun trains only what is missing")

    def _say(self, label: str, total: int, done: int, running: int, failed: int,
             said: tuple | None) -> tuple:
        """A progress line when the counts changed since the last one (``said``)."""
        counts = (done, running, total - done - running - failed, failed)
        if counts != said:
            self.log(f"{label + ': ' if label else ''}ray: {done} of {total} jobs done, "
                     f"{running} running, {counts[2]} pending"
                     + (f", {failed} failed" if failed else ""))
        return counts


def executor_for(name: str, address: str | None, device_type: str, log=print):
    """The executor ``--executor`` names: None for ``local`` (each stage's own default), or a
    ``RayExecutor``: on CPU a task per model on one CPU (as the local executor's one model per
    worker thread); on CUDA a task per ``GPU_BATCH`` models on one GPU. (On a GPU, how many
    models train together chooses the strategy, so the weights match a local run's within the
    verdict's tolerances, not bitwise, when a bank has more models than one task takes.)"""
    if name == "local":
        if address:
            raise UserError(f"--ray-address {address!r} needs --executor ray")
        return None
    if name != "ray":
        raise UserError(f"unknown executor {name!r}: local or ray")
    import_ray()  # before any work: one line if it is missing
    cuda = device_type == "cuda"
    return RayExecutor(address=address, gpus=1 if cuda else 0, batch=GPU_BATCH if cuda else 1,
                       log=log)
