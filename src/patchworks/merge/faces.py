"""The ``faces`` step: label pairs that touch across one tile boundary face.

A face job reads the last plane of a tile along ``axis`` and the first plane of the next tile (from
the tiles' boundary planes, :mod:`patchworks.merge.planes`), the latter widened (for connectivity
> 1) by one voxel on every later axis. Comparing them at every neighbour offset that crosses the
face finds face, edge and corner contacts alike, so no extra jobs are needed for edges or corners:
each contact is found by exactly one job, that of the face it crosses along the first axis on which
its two tiles differ (from the lower tile's side).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import zarr

from ..io import chunked
from ..tiling.grid import Slices, TileGrid, neighbour_offsets

TILE_SHIFT = np.int64(32)
"""Node code of a staged label: ``tile << 32 | local label``."""


def node_codes(tiles: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return (tiles.astype(np.int64) << TILE_SHIFT) | labels.astype(np.int64)


def face_pairs(read_plane: Callable[[Slices, int], np.ndarray], grid: TileGrid, tile: int, axis: int,
               connectivity: int) -> np.ndarray:
    """Unique ``(node_a, node_b)`` pairs of staged labels touching across the face; ``read_plane(region,
    axis)`` gives the staged labels of a region one voxel thick along ``axis``.

    ``node_a`` lies in ``tile``, ``node_b`` in the tile on the + side of ``axis`` or in one of
    that tile's neighbours along later axes (edge and corner contacts).
    """
    core = grid.core(tile)
    plane = core[axis].stop
    a_region = tuple(slice(plane - 1, plane) if ax == axis else s for ax, s in enumerate(core))
    reach = 1 if connectivity > 1 else 0  # edge and corner contacts reach the neighbours' tiles
    b_region = tuple(
        slice(plane, plane + 1) if ax == axis
        else s if ax < axis  # contacts into other tiles along earlier axes belong to their jobs
        else slice(max(s.start - reach, 0), min(s.stop + reach, n))
        for ax, (s, n) in enumerate(zip(core, grid.shape))
    )
    a = read_plane(a_region, axis)
    b = read_plane(b_region, axis)
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


def face_pairs_iou(stage: zarr.Array, grid: TileGrid, tile: int, axis: int, bands: dict[int, Any],
                   threshold: float) -> np.ndarray:
    """``(node_a, node_b)`` pairs of labels of ``tile`` and its + neighbour along ``axis`` that are one
    object by IoU: each tile's prediction in the overlap band (``bands[t]``, from its stage job) is
    compared with the other tile's labels there, on both sides of the seam; a pair whose IoU over
    the two bands is >= ``threshold`` is joined."""
    other = grid.neighbour(tile, axis)
    core_a, core_b = grid.core(tile), grid.core(other)
    pred_a = _band(bands[tile], f"{axis}-hi")  # tile's prediction inside the neighbour's core
    pred_b = _band(bands[other], f"{axis}-lo")  # the neighbour's prediction inside tile's core
    inter: dict[tuple[int, int], int] = {}
    area_a: dict[int, int] = {}
    area_b: dict[int, int] = {}
    if pred_a is not None:  # band 1: the first planes of the neighbour's core
        region = _along(core_a, axis, slice(core_b[axis].start, core_b[axis].start + pred_a.shape[axis]))
        _count(pred_a, chunked.read(stage, region), inter, area_a, area_b)
    if pred_b is not None:  # band 2: the last planes of tile's core
        region = _along(core_a, axis, slice(core_a[axis].stop - pred_b.shape[axis], core_a[axis].stop))
        _count(chunked.read(stage, region), pred_b, inter, area_a, area_b)
    joined = [(a, b) for (a, b), n in inter.items() if n / (area_a[a] + area_b[b] - n) >= threshold]
    if not joined:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.asarray(joined, dtype=np.int64)
    return np.stack([node_codes(np.full(len(pairs), tile), pairs[:, 0]),
                     node_codes(np.full(len(pairs), other), pairs[:, 1])], axis=1)


def _band(arrays: Any, key: str) -> np.ndarray | None:
    return arrays[key] if arrays is not None and key in arrays else None


def _along(core: tuple[slice, ...], axis: int, s: slice) -> tuple[slice, ...]:
    return core[:axis] + (s,) + core[axis + 1:]


def _count(a: np.ndarray, b: np.ndarray, inter: dict, area_a: dict, area_b: dict) -> None:
    """Add the voxel counts of labels of ``a`` and of ``b`` and of their overlaps (0 = background)."""
    for labels, area in ((a, area_a), (b, area_b)):
        ids, counts = np.unique(labels[labels > 0], return_counts=True)
        for i, n in zip(ids.tolist(), counts.tolist()):
            area[i] = area.get(i, 0) + n
    both = (a > 0) & (b > 0)
    if both.any():
        pairs, counts = np.unique(np.stack([a[both], b[both]], axis=1), axis=0, return_counts=True)
        for (i, j), n in zip(pairs.tolist(), counts.tolist()):
            inter[(i, j)] = inter.get((i, j), 0) + n
