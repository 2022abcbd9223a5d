"""dask.distributed for the Python API: a local cluster sized to this machine (one worker per GPU,
or worker processes by cores and memory), and the check of an active client before a run."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

from ..tiling.sizing import memory_limit_bytes, visible_gpus

WORKER_MEMORY_MIN = 2 << 30  # a CPU worker gets at least this much memory (a model method needs ~1.2 GB)

IN_PROCESS_MESSAGE = (
    "The active dask client's workers run inside this process (Client(processes=False) or "
    "LocalCluster(processes=False)): a tile function that holds the GIL starves their heartbeats and "
    "the run loses tasks (FutureCancelledError: lost dependencies). Use worker processes instead:\n"
    "    from patchworks import make_local_cluster\n"
    "    client, cluster = make_local_cluster()\n"
    "or close that client (client.close(); cluster.close()) to run in this process's threads."
)


def active_client() -> Any:
    """The current dask.distributed client, or None (distributed is not imported for this)."""
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


def check_client(client: Any) -> None:
    """RuntimeError with the fix if ``client``'s workers run in this process."""
    if os.getpid() in client.run(os.getpid).values():
        raise RuntimeError(IN_PROCESS_MESSAGE)


def gpu_worker_specs(gpus: list[int], memory_limit: int | str = "auto") -> dict[str, dict[str, Any]]:
    """One single-threaded worker process per GPU, pinned to it with CUDA_VISIBLE_DEVICES."""
    from distributed import Nanny

    return {f"gpu-{i}": {"cls": Nanny, "options": {
        "nthreads": 1, "memory_limit": memory_limit, "resources": {"GPU": 1},
        "env": {"CUDA_VISIBLE_DEVICES": str(i)}}} for i in gpus}


def make_local_cluster(use_gpu: bool = False, *, n_workers: int | None = None, threads_per_worker: int = 1,
                       memory_limit: int | str | None = None, dashboard_address: str | None = ":0",
                       **kwargs: Any) -> tuple[Any, Any]:
    """A dask.distributed ``(client, cluster)`` on this machine for ``tile_process`` and
    ``merge_tile_labels``; close both when done.

    ``use_gpu``: one single-threaded worker per visible GPU, each pinned to its GPU with
    ``CUDA_VISIBLE_DEVICES``; without a GPU a warning, then CPU workers. CPU workers are processes
    (``threads_per_worker`` threads each), as many as cores less one and memory allow
    (>= 2 GiB each); ``n_workers`` and ``memory_limit`` (per worker) override that. Other keywords go
    to ``LocalCluster``. On a SLURM cluster use dask-jobqueue's ``SLURMCluster`` and
    ``Client(cluster)`` instead; tile_process uses whatever client is active.
    """
    from distributed import Client, LocalCluster, Scheduler, SpecCluster

    memory = memory_limit_bytes()
    gpus = visible_gpus() if use_gpu else []
    if use_gpu and not gpus:
        warnings.warn("make_local_cluster(use_gpu=True): no GPU found (NVML); starting CPU workers sized by "
                      "this machine's cores and memory instead", stacklevel=2)
    if gpus:
        per_worker = memory_limit or memory // len(gpus)
        scheduler = {"cls": Scheduler, "options": {"dashboard_address": dashboard_address}}
        cluster: Any = SpecCluster(workers=gpu_worker_specs(gpus, per_worker), scheduler=scheduler)
    else:
        cores = os.cpu_count() or 1
        n = n_workers or max(1, min(cores - 1, memory // WORKER_MEMORY_MIN))
        cluster = LocalCluster(n_workers=n, threads_per_worker=threads_per_worker, processes=True,
                               memory_limit=memory_limit or memory // n,
                               dashboard_address=dashboard_address, **kwargs)
    return Client(cluster), cluster
