"""Predictions off the server's event loop: a bounded queue of jobs run in worker processes.

A prediction takes seconds of every core (the engine is parallel), so the server never runs one
itself: :class:`PredictionQueue` hands each to a worker process (``workers`` at a time; one by
default, since each already uses all cores) and accepts at most ``capacity`` jobs running or
waiting. A request beyond that is refused at once with a "busy, retry" answer instead of
queueing without bound. The same request while its job is pending joins that job. Workers
report the stage they are at (finding twins, simulating option k of m) through a queue that a
thread of the server reads, so the job page can show progress. Jobs, like results, live in
memory only.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import secrets
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


@dataclass
class Job:
    """One prediction request: its state, the stage it is at, and its result or error."""

    id: str
    key: str
    disease: str
    form: dict  # what the form held (to show it again if the job is refused)
    settings: dict
    number: int  # submission order (queue positions)
    state: str = QUEUED
    stage: str = "waiting for a worker"
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    result: Any = None  # the remit.predict.Prediction
    error: str = ""
    status: int = 200  # HTTP status of a failed job's answer (422 refused, 503 time budget)
    future: Future | None = field(default=None, repr=False)

    @property
    def pending(self) -> bool:
        return self.state in (QUEUED, RUNNING)

    def elapsed_s(self) -> float:
        end = self.finished if self.finished is not None else time.monotonic()
        return end - (self.started if self.started is not None else self.submitted)

    def summary(self, position: int | None = None) -> dict:
        """The job as JSON (``/api/jobs/{id}``)."""
        out = {"id": self.id, "state": self.state, "stage": self.stage, "elapsed_s": round(self.elapsed_s(), 1),
               "disease": self.disease}
        if position is not None:
            out["ahead"] = position
        if self.state == FAILED:
            out["error"] = self.error
        return out


# --------------------------------------------------------------------------
# the worker side (runs in the worker processes)
# --------------------------------------------------------------------------

_progress = None  # the worker's end of the progress queue (set by _init_worker)


def _init_worker(progress) -> None:
    global _progress
    _progress = progress


def _run(job_id: str, patient: dict, kwargs: dict):
    """Run one prediction in a worker; stages go to the server through the progress queue."""
    from remit.predict import PredictError, predict

    def report(stage: str) -> None:
        if _progress is not None:
            _progress.put((job_id, stage))

    report("started")
    try:
        return predict(patient, progress=report, **kwargs)
    except PredictError as exc:  # a refusal, not a crash: the message goes to the page
        return exc


# --------------------------------------------------------------------------
# the server side
# --------------------------------------------------------------------------


class PredictionQueue:
    """At most ``capacity`` predictions running or waiting, ``workers`` of them at once, in worker processes.

    Parameters
    ----------
    workers
        Worker processes (default 1: a prediction already uses every core).
    capacity
        Jobs accepted at once, running and waiting; a submission beyond it is refused.
    keep
        Finished jobs remembered (oldest forgotten first), so that their pages can still be shown.
    """

    def __init__(self, workers: int = 1, capacity: int = 8, keep: int = 64):
        if workers < 1 or capacity < workers:
            raise ValueError(f"workers = {workers}, capacity = {capacity}: need 1 <= workers <= capacity")
        self.workers, self.capacity, self.keep = workers, capacity, keep
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self._by_key: dict[str, str] = {}
        self._lock = threading.Lock()
        self._count = itertools.count()
        self._pool: ProcessPoolExecutor | None = None
        self._progress = None
        self._reader: threading.Thread | None = None
        self._broken = False

    # -- lifecycle -------------------------------------------------------------------
    def _start(self) -> None:
        if self._pool is not None:
            return
        # spawn, not fork: the server has threads (uvicorn, this queue's reader) that a fork would copy half-way
        ctx = multiprocessing.get_context("spawn")
        self._progress = ctx.Queue()
        self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                         initargs=(self._progress,))
        self._reader = threading.Thread(target=self._read_progress, name="remit-progress", daemon=True)
        self._reader.start()

    def _discard_pool(self, wait: bool = False) -> None:
        """Stop the workers (waiting jobs are cancelled) and the progress reader."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)
        if self._progress is not None:
            self._progress.put(None)  # ends the reader
            self._progress = None

    def close(self) -> None:
        """Stop the workers, waiting for a running prediction to end (waiting jobs are cancelled). Not under the
        lock: the finishing jobs' callbacks take it."""
        self._discard_pool(wait=True)

    def _read_progress(self) -> None:
        queue = self._progress
        while True:
            try:
                item = queue.get()
            except (EOFError, OSError):
                return
            if item is None:
                return
            job_id, stage = item
            with self._lock:
                job = self.jobs.get(job_id)
                if job is None or not job.pending:
                    continue
                if stage == "started":
                    job.state, job.started, job.stage = RUNNING, time.monotonic(), "starting"
                else:
                    job.stage = stage

    # -- jobs ------------------------------------------------------------------------
    def pending(self) -> int:
        with self._lock:
            return sum(j.pending for j in self.jobs.values())

    def submit(self, key: str, disease: str, patient: dict, kwargs: dict, form: dict | None = None,
               settings: dict | None = None) -> Job | None:
        """The job of this request: the pending one with the same ``key``, or a new one; None when full."""
        with self._lock:
            same = self._by_key.get(key)
            if same is not None and same in self.jobs and self.jobs[same].pending:
                return self.jobs[same]
            if sum(j.pending for j in self.jobs.values()) >= self.capacity:
                return None
            if self._broken:
                self._discard_pool()
                self._broken = False
            self._start()
            job = Job(secrets.token_urlsafe(9), key, disease, dict(form or {}), dict(settings or {}), next(self._count))
            self.jobs[job.id] = job
            self._by_key[key] = job.id
            self._forget_old()
            try:
                job.future = self._pool.submit(_run, job.id, patient, kwargs)
            except BrokenProcessPool:  # a worker died (killed, out of memory): start a fresh pool once
                self._discard_pool()
                self._start()
                job.future = self._pool.submit(_run, job.id, patient, kwargs)
        job.future.add_done_callback(lambda f, job=job: self._finish(job, f))
        return job

    def _finish(self, job: Job, future: Future) -> None:
        from remit.predict import PredictError

        with self._lock:
            job.finished = time.monotonic()
            if job.started is None:
                job.started = job.finished
            if future.cancelled():
                job.state, job.error, job.status = FAILED, "cancelled: the server is shutting down", 503
                return
            exc = future.exception()
            value = future.result() if exc is None else None
            if isinstance(value, PredictError):
                exc = value
            if exc is None:
                job.state, job.result, job.stage = DONE, value, "done"
            else:
                job.state, job.error = FAILED, str(exc)
                job.status = 503 if "time budget" in str(exc) else 422 if isinstance(exc, PredictError) else 500
                if job.status == 500:  # a crash of the worker, not a refusal: say so plainly
                    job.error = f"the prediction failed ({type(exc).__name__}: {exc})"
                if isinstance(exc, BrokenProcessPool):  # the next submission starts a fresh pool
                    self._broken = True
            job.stage = job.state

    def _forget_old(self) -> None:
        done = [i for i, j in self.jobs.items() if not j.pending]
        for i in done[: max(0, len(self.jobs) - self.keep)]:
            job = self.jobs.pop(i)
            if self._by_key.get(job.key) == i:
                del self._by_key[job.key]

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self.jobs.get(job_id)

    def ahead(self, job: Job) -> int:
        """Jobs still waiting that were submitted before ``job`` (0 once it runs)."""
        with self._lock:
            if job.state != QUEUED:
                return 0
            return sum(1 for j in self.jobs.values() if j.state == QUEUED and j.number < job.number)

    async def wait(self, job: Job, poll_s: float = 0.1) -> Job:
        """Wait (without blocking the event loop) until ``job`` has finished."""
        while True:
            with self._lock:
                if not job.pending:
                    return job
            await asyncio.sleep(poll_s)


def default_workers() -> int:
    """Worker processes of ``remit serve``: one (each prediction uses every core), or ``REMIT_WEB_WORKERS``."""
    return max(1, int(os.environ.get("REMIT_WEB_WORKERS", "1")))
