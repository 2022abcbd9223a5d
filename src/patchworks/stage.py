"""The ``stage`` step: segment one tile (with its halo) and store its labels numbered 1..n."""

from __future__ import annotations

import time
from typing import Any

import fastremap
import numpy as np
import zarr

from .errors import MethodError
from .grid import TileGrid
from .methods import TileFn
from .ngff import ImageSource


def describe_tile(grid: TileGrid, tile: int) -> str:
    """A tile's number, grid position and voxel region, for messages."""
    region = ", ".join(f"{s.start}:{s.stop}" for s in grid.core(tile))
    return f"tile {tile} (grid index {grid.index(tile)}, region [{region}])"


def check_labels(labels: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    """Return ``labels`` as an array if it is a valid label image of ``shape``; else raise."""
    arr = np.asarray(labels)
    if arr.ndim != len(shape):
        raise MethodError(
            f"{where}: the method returned a {arr.ndim}-D array for a {len(shape)}-D tile of "
            f"shape {shape}; it must return labels of the tile's shape"
        )
    if arr.shape != shape:
        raise MethodError(
            f"{where}: the method returned shape {arr.shape} for a tile of shape {shape}; "
            "it must return labels of the tile's shape"
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise MethodError(
            f"{where}: the method returned dtype {arr.dtype}; it must return integer labels "
            "(0 = background), e.g. scipy.ndimage.label(mask)[0]"
        )
    if np.issubdtype(arr.dtype, np.signedinteger) and arr.size and arr.min() < 0:
        raise MethodError(f"{where}: the method returned negative labels (min {arr.min()}); "
                          "labels must be >= 0 with 0 as background")
    return arr


def stage_tile(
    source: ImageSource,
    grid: TileGrid,
    tile: int,
    fn: TileFn,
    stage: zarr.Array,
    empty_threshold: float | None = None,
) -> dict[str, Any]:
    """Segment ``tile`` and write its labels, renumbered 1..n, to its region of ``stage``.

    A tile whose read block (core plus halo) has max <= ``empty_threshold`` is not segmented.
    """
    t0 = time.perf_counter()
    block = source.read(grid.halo(tile))
    t1 = time.perf_counter()
    core = grid.core_within_halo(tile)
    skipped = empty_threshold is not None and (block.size == 0 or block.max() <= empty_threshold)
    if skipped:
        labels = np.zeros(tuple(s.stop - s.start for s in core), dtype=np.uint32)
    else:
        where = describe_tile(grid, tile)
        try:
            result = fn(block)
        except Exception as err:
            raise MethodError(f"{where}: the method raised {type(err).__name__}: {err}") from err
        labels = check_labels(result, block.shape, where)[core]
        labels, _ = fastremap.renumber(np.ascontiguousarray(labels), preserve_zero=True)
        labels = labels.astype(np.uint32, copy=False)
    t2 = time.perf_counter()
    stage[grid.core(tile)] = labels
    t3 = time.perf_counter()
    return {
        "tile": tile,
        "count": int(labels.max()) if labels.size else 0,
        "skipped": bool(skipped),
        "seconds": {"read": t1 - t0, "method": t2 - t1, "write": t3 - t2},
    }
