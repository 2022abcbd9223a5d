"""Tile shape and overlap as the workflow and the Python API resolve them: ``auto`` for a method (its
memory per voxel), and as the API also takes them: a tuple, None (the storage chunks) or a callable
``(shape, dtype) -> tuple``; one overlap for every axis or one per axis. Automatic tiles are multiples
of what the image asks (``multiple_of``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from ..io.ngff import ImageInfo, zarr_chunks
from .sizing import SAFETY, auto_tile_shape

if TYPE_CHECKING:
    from ..methods import Method

TileShape = tuple[int, ...] | Callable[[tuple[int, ...], Any], tuple[int, ...]] | str | None


def tile_shape(spec: TileShape, info: ImageInfo, use_gpu: bool = False,
               multiple_of: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The tile shape along the image's spatial axes, capped at the image (given with another number
    of entries than the image has spatial axes, it is returned as given, for the config check to name)."""
    shape = info.spatial_shape
    if spec is None:
        tiles = zarr_chunks(info) or shape
    elif isinstance(spec, str):
        if spec != "auto":
            raise ValueError(f"tile_shape: {spec!r} is not understood; use 'auto', a tuple, a callable "
                             "(shape, dtype) -> tuple, or None for the image's chunks")
        tiles = auto_tile_shape(shape, info.dtype, use_gpu=use_gpu, multiple_of=multiple_of)
    elif callable(spec):
        tiles = tuple(spec(shape, info.dtype))
    else:
        tiles = tuple(spec)
    tiles = tuple(int(t) for t in tiles)
    if len(tiles) != len(shape):
        return tiles
    return tuple(min(t, s) for t, s in zip(tiles, shape))


def overlap(spec: int | Sequence[int], tiles: tuple[int, ...]) -> list[int]:
    """One number: that many voxels along every axis, less where a tile is thinner (a tile one z-plane
    thick gets no z halo); a sequence: one entry per spatial axis, as given."""
    if isinstance(spec, int | np.integer):
        return [min(int(spec), t - 1) for t in tiles]
    return [int(o) for o in spec]


def image_factors(info: ImageInfo) -> tuple[int, ...] | None:
    """Per spatial axis, how much each level of the image shrinks it (None for a single level)."""
    if info.n_levels < 2:
        return None
    here, below = info.level_shapes[0], info.level_shapes[1]
    return tuple(max(1, round(here[i] / below[i])) for i in info.spatial_axes)


def multiple_of(info: ImageInfo, into_input: bool) -> tuple[int, ...] | None:
    """What automatic tiles round to: the chunks, and into the image the span of its pyramid (so that
    each tile writes its own share of every level)."""
    chunks = zarr_chunks(info)
    factors = image_factors(info)
    if not into_input or factors is None:
        return chunks
    span = [f ** (info.n_levels - 1) for f in factors]
    return tuple(math.lcm(c, s) for c, s in zip(chunks or span, span))


def method_tile_shape(info: ImageInfo, method: Method, budget_mb: int | None, into_input: bool
                      ) -> tuple[int, ...]:
    """``tile_shape: auto`` of the workflow: the largest tile whose stage job fits ``budget_mb`` (None:
    the memory this process may use; a GPU method's: the GPU's), by the method's memory per voxel."""
    gpu = method.uses_gpu
    base = method.gpu_base_bytes if gpu else method.base_bytes  # the model's own memory
    if budget_mb and base >= SAFETY * (budget_mb << 20):
        key = "tiling.gpu_memory_mb" if gpu else "tiling.memory_mb"
        raise ConfigError(f"{key}: {budget_mb} MB leaves no room for a tile: the model of "
                          f"method.{method.name} holds about {base >> 20} MB by itself; give a stage job "
                          f"more than {math.ceil(base / SAFETY) >> 20} MB")
    try:
        return auto_tile_shape(info.spatial_shape, info.dtype, use_gpu=gpu,
                               budget_bytes=budget_mb << 20 if budget_mb else None,
                               bytes_per_voxel=method.voxel_bytes(info.dtype.itemsize),
                               multiple_of=multiple_of(info, into_input), base_bytes=base, require_gpu=True)
    except RuntimeError as err:
        raise ConfigError(f"tiling.tile_shape: auto with a GPU method, but {err}: set "
                          "tiling.gpu_memory_mb to a stage job's GPU memory") from err
