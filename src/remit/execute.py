"""Where chunks of patients are computed: in this process, or on a Dask cluster.

Chunks are the tasks; each is a pure function of its inputs (every patient draws from
its own random streams), so the results do not depend on which worker computes which
chunk or in what order. Retries of lost workers are the Dask scheduler's job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any


class LocalExecutor:
    """Runs tasks one after another in this process (numba still uses every core)."""

    workers = 1
    address = None

    def map_unordered(self, fn: Callable, args: Iterable[tuple]) -> Iterator[tuple[int, Any]]:
        for i, a in enumerate(args):
            yield i, fn(*a)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DaskExecutor:
    """Runs tasks on a dask.distributed cluster: a new LocalCluster of ``workers`` processes
    (one numba thread each), or an existing scheduler at ``address``."""

    def __init__(self, workers: int | None = None, address: str | None = None):
        from distributed import Client, LocalCluster

        self.cluster = None
        if address is None:
            n = int(workers or 1)
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                        env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
            self.client = Client(self.cluster)
        else:
            self.client = Client(address)
        self.address = self.client.scheduler.address
        self.workers = len(self.client.scheduler_info().get("workers", {})) or int(workers or 1)

    def map_unordered(self, fn: Callable, args: Iterable[tuple]) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed

        futures = {}
        for i, a in enumerate(args):
            futures[self.client.submit(fn, *a, pure=False)] = i
        for fut in as_completed(list(futures)):
            yield futures[fut], fut.result()
            fut.release()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def executor(workers: int | None = None, scheduler: str | None = None):
    """Local execution unless ``workers`` > 1 or a ``scheduler`` address is given."""
    if scheduler:
        return DaskExecutor(address=scheduler)
    if workers and workers > 1:
        return DaskExecutor(workers=workers)
    return LocalExecutor()
