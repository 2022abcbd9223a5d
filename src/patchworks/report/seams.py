"""The seam check: do objects end at tile seams more often than at planes inside the tiles?

It needs no ground truth. For a plane between voxel q - 1 and q along an axis, the objects touching
it either cross it (voxels on both sides) or end exactly there (their bounding box starts at q or
stops at q). Where tiles were merged well, a seam is a plane like any other, so the share of touching
objects that end there is the same at the seams as at control planes in the middle of the tiles; a
seam where objects were cut shows up as a share near 1. Computed from the object table's bounding
boxes alone: memory grows with the objects and the image's extent, never with its voxels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tiling.grid import TileGrid


def plane_counts(start: np.ndarray, stop: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """For every plane q = 0..size along one axis: objects ending exactly at it, and crossing it."""
    ends = np.bincount(start, minlength=size + 1) + np.bincount(stop, minlength=size + 1)
    change = np.bincount(start + 1, minlength=size + 2) - np.bincount(stop, minlength=size + 2)
    crossing = np.cumsum(change)[:size + 1]  # start < q < stop
    return ends[:size + 1], crossing


def _rate(ends: int, crossing: int) -> float | None:
    touching = ends + crossing
    return ends / touching if touching else None


def seam_check(bbox_start: np.ndarray, bbox_stop: np.ndarray, grid: TileGrid,
               names: tuple[str, ...]) -> dict[str, Any]:
    """Per seam (a plane between two rows of tiles): the share of touching objects ending there, and the
    same at the control plane in the middle of the tile after the seam; with their means."""
    seams = []
    for axis, (size, tile, count) in enumerate(zip(grid.shape, grid.tile_shape, grid.counts)):
        ends, crossing = plane_counts(bbox_start[:, axis], bbox_stop[:, axis], size)
        for i in range(1, count):
            q = i * tile
            c = q + (min(q + tile, size) - q) // 2  # inside the next tile; == q when it is 1 voxel thick
            seams.append({"axis": names[axis], "position": q, "ends": int(ends[q]),
                          "crossing": int(crossing[q]), "rate": _rate(ends[q], crossing[q]),
                          "control_position": c, "control_ends": int(ends[c]),
                          "control_crossing": int(crossing[c]),
                          "control_rate": _rate(ends[c], crossing[c]) if c > q else None})

    def mean(key: str) -> float | None:
        values = [s[key] for s in seams if s[key] is not None]
        return float(np.mean(values)) if values else None

    return {"seams": seams, "mean_rate": mean("rate"), "mean_control_rate": mean("control_rate")}
