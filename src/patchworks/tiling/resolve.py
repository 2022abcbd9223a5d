"""Tile shape and overlap as the Python API takes them: a tuple, None (the storage chunks), "auto" or
a callable ``(shape, dtype) -> tuple``; one overlap for every axis or one per axis."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..io.ngff import ImageInfo, zarr_chunks
from .sizing import auto_tile_shape

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
