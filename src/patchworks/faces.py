"""The ``faces`` step: label pairs that touch across one tile boundary face.

A face job reads the last plane of a tile along ``axis`` and the first plane of the next tile,
the latter widened by one voxel on every later axis. Comparing them at every neighbour offset
that crosses the face finds face, edge and corner contacts alike, so no extra jobs are needed
for edges or corners: each contact is found by exactly one job, that of the face it crosses
along the first axis on which its two tiles differ (from the lower tile's side).
"""

from __future__ import annotations

import numpy as np
import zarr

from .grid import TileGrid, neighbour_offsets

TILE_SHIFT = np.int64(32)
"""Node code of a staged label: ``tile << 32 | local label``."""


def node_codes(tiles: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return (tiles.astype(np.int64) << TILE_SHIFT) | labels.astype(np.int64)


def face_pairs(stage: zarr.Array, grid: TileGrid, tile: int, axis: int, connectivity: int) -> np.ndarray:
    """Unique ``(node_a, node_b)`` pairs of staged labels touching across the face.

    ``node_a`` lies in ``tile``, ``node_b`` in the tile on the + side of ``axis`` or in one of
    that tile's neighbours along later axes (edge and corner contacts).
    """
    core = grid.core(tile)
    plane = core[axis].stop
    a_region = tuple(slice(plane - 1, plane) if ax == axis else s for ax, s in enumerate(core))
    b_region = tuple(
        slice(plane, plane + 1) if ax == axis
        else s if ax < axis  # contacts into other tiles along earlier axes belong to their jobs
        else slice(max(s.start - 1, 0), min(s.stop + 1, n))
        for ax, (s, n) in enumerate(zip(core, grid.shape))
    )
    a = np.asarray(stage[a_region])
    b = np.asarray(stage[b_region])
    b_tiles = _tile_numbers(grid, b_region)
    a_node = np.int64(tile) << TILE_SHIFT
    found = []
    for offset in neighbour_offsets(grid.ndim, connectivity):
        if offset[axis] != 1:
            continue
        a_sel, b_sel = [], []
        for ax, d in enumerate(offset):
            if ax == axis:
                a_sel.append(slice(None))
                b_sel.append(slice(None))
                continue
            lo = max(core[ax].start, b_region[ax].start - d)
            hi = min(core[ax].stop, b_region[ax].stop - d)
            a_sel.append(slice(lo - core[ax].start, hi - core[ax].start))
            b_sel.append(slice(lo + d - b_region[ax].start, hi + d - b_region[ax].start))
        la, lb = a[tuple(a_sel)], b[tuple(b_sel)]
        touching = (la > 0) & (lb > 0)
        if touching.any():
            nodes_b = node_codes(np.broadcast_to(b_tiles[tuple(b_sel)], lb.shape)[touching], lb[touching])
            found.append(np.stack([a_node | la[touching].astype(np.int64), nodes_b], axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(found), axis=0)


def _tile_numbers(grid: TileGrid, region: tuple[slice, ...]) -> np.ndarray:
    """Flat tile number of every voxel of ``region``, as a broadcastable array."""
    strides = np.cumprod((grid.counts[1:] + (1,))[::-1])[::-1]
    total = np.zeros((1,) * grid.ndim, dtype=np.int64)
    for ax, (s, stride) in enumerate(zip(region, strides)):
        shape = [1] * grid.ndim
        shape[ax] = s.stop - s.start
        coords = np.arange(s.start, s.stop).reshape(shape)
        total = total + grid.tile_of(coords, ax) * int(stride)
    return total
