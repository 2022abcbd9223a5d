"""Automatic tile shape from the memory a job has (cgroup / SLURM limit, psutil, GPU via NVML),
and automatic overlap from the object diameter and the voxel size."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..methods import Method
from ..methods.cellpose import CELLPOSE3_GPU_BASE_BYTES, CellposeMethod
from ..methods.model_support import ModelMethod

SAFETY = 0.5  # use at most this share of the memory


def memory_limit_bytes() -> int:
    """The memory this process may use: the smallest of its cgroup limit, SLURM's allocation (when
    inside a SLURM job) and the memory available on the machine."""
    import psutil

    limits = [psutil.virtual_memory().available]
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        text = Path(path).read_text().strip() if Path(path).exists() else "max"
        if text.isdigit() and int(text) < 1 << 60:
            limits.append(int(text))
    if os.environ.get("SLURM_MEM_PER_NODE", "").isdigit():
        limits.append(int(os.environ["SLURM_MEM_PER_NODE"]) << 20)
    elif os.environ.get("SLURM_MEM_PER_CPU", "").isdigit():
        cpus = int(os.environ.get("SLURM_CPUS_ON_NODE", "1") or 1)
        limits.append(int(os.environ["SLURM_MEM_PER_CPU"]) * cpus << 20)
    return min(limits)


def _visible(pynvml: Any) -> list[int]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    count = pynvml.nvmlDeviceGetCount()
    indices = [int(i) for i in visible.split(",") if i.strip().isdigit()] if visible else range(count)
    return [i for i in indices if i < count]


def _with_nvml(query: Callable[[Any], Any], default: Any) -> Any:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return default
    try:
        return query(pynvml)
    finally:
        pynvml.nvmlShutdown()


def visible_gpus() -> list[int]:
    """NVML indices of the GPUs this process may use (CUDA_VISIBLE_DEVICES), [] without a GPU or driver."""
    return _with_nvml(_visible, [])


def gpu_memory_bytes() -> int | None:
    """Free memory of the smallest visible GPU (NVML), or None without a GPU or driver."""
    def smallest_free(pynvml: Any) -> int | None:
        free = [pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(i)).free
                for i in _visible(pynvml)]
        return min(free) if free else None

    return _with_nvml(smallest_free, None)


def memory_budget(use_gpu: bool, require_gpu: bool = False) -> tuple[int, bool]:
    """The memory to size a job against and whether it is a GPU's: with ``use_gpu`` the GPU's free
    memory; without a GPU, this machine's memory, with a warning (as Cellpose falls back to the CPU),
    or a RuntimeError with ``require_gpu``."""
    if use_gpu:
        gpu = gpu_memory_bytes()
        if gpu is not None:
            return gpu, True
        if require_gpu:
            raise RuntimeError("use_gpu: no GPU found (NVML); give the GPU's memory as budget_bytes")
        warnings.warn("use_gpu=True but no GPU was found (NVML): sizing against this machine's memory "
                      "instead", stacklevel=3)
    return memory_limit_bytes(), False


def worker_count(job_bytes: int, cores: int | None = None) -> int:
    """How many jobs of ``job_bytes`` may run at once here: one core left free, and at most
    ``SAFETY`` of the memory this process may use."""
    cores = cores or os.cpu_count() or 1
    by_memory = int(SAFETY * memory_limit_bytes() // max(job_bytes, 1))
    return max(1, min(cores - 1, by_memory))


def auto_tile_shape(shape: tuple[int, ...], dtype: object = np.uint16, *, use_gpu: bool = False,
                    budget_bytes: int | None = None, bytes_per_voxel: float | None = None,
                    base_bytes: int = 0, multiple_of: tuple[int, ...] | None = None,
                    require_gpu: bool = False) -> tuple[int, ...]:
    """The largest near-cubic tile whose stage job fits ``budget_bytes`` (default: the memory this
    process may use, or the GPU's free memory with ``use_gpu``, see :func:`memory_budget`; half of
    it, less ``base_bytes``, for the tile), at most the image, each side a multiple of
    ``multiple_of`` (e.g. the storage chunks) where the image allows."""
    if budget_bytes is None:
        budget_bytes, _ = memory_budget(use_gpu, require_gpu)
    per_voxel = bytes_per_voxel or Method.bytes_per_voxel + np.dtype(dtype).itemsize  # a custom method's
    voxels = max(1.0, (SAFETY * budget_bytes - base_bytes) / per_voxel)
    tile = list(shape)
    free = list(range(len(shape)))  # axes not yet capped by the image
    while free:
        side = (voxels / math.prod(tile[i] for i in range(len(shape)) if i not in free)) ** (1 / len(free))
        capped = [i for i in free if shape[i] <= side]
        if not capped:
            for i in free:
                tile[i] = max(1, int(side))
            break
        free = [i for i in free if i not in capped]
    if multiple_of:
        tile = [t if t >= s else max(m, t // m * m) if t >= m else t
                for t, s, m in zip(tile, shape, multiple_of)]
    return tuple(min(t, s) for t, s in zip(tile, shape))


def auto_tile_shape_cellpose(shape: tuple[int, ...], dtype: object = np.uint16, *, diameter: float = 30,
                             use_gpu: bool = True, budget_bytes: int | None = None) -> tuple[int, ...]:
    """:func:`auto_tile_shape` for Cellpose 3 (the seeds' models), which rescales each tile by 30 /
    ``diameter`` first, less the model's own memory; with ``use_gpu`` and no GPU, sized against this
    machine's memory (with a warning)."""
    on_gpu = use_gpu
    if budget_bytes is None:
        budget_bytes, on_gpu = memory_budget(use_gpu)
    scale = (30 / diameter) ** 2
    return auto_tile_shape(shape, dtype, budget_bytes=budget_bytes,
                           bytes_per_voxel=CellposeMethod.bytes_per_voxel * scale,
                           base_bytes=CELLPOSE3_GPU_BASE_BYTES if on_gpu else ModelMethod.base_bytes)


def auto_overlap(diameter: float, voxel_size: tuple[float, ...] | None = None,
                 tile: tuple[int, ...] | None = None) -> int | tuple[int, ...]:
    """Two object diameters in voxels: an object cut by a seam lies whole, with context, in the halo
    of the tiles on both sides. ``auto_overlap(diameter)`` takes the diameter in voxels and gives one
    number; with ``voxel_size`` the diameter is in physical units and the overlap is per axis (below
    ``tile`` when given)."""
    if voxel_size is None:
        return math.ceil(2 * diameter)
    tile = tile or (math.inf,) * len(voxel_size)
    return tuple(int(min(math.ceil(2 * diameter / v), t - 1)) for v, t in zip(voxel_size, tile))
