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
    return float(ends / touching) if touching else None


def seam_check(bbox_start: np.ndarray, bbox_stop: np.ndarray, grid: TileGrid,
               names: tuple[str, ...]) -> dict[str, Any]:
    """Per seam (a plane between two rows of tiles): the share of touching objects ending there, and the
    same at the control plane in the middle of the tile after the seam. Pooled over all seams, all
    control planes, and every plane inside the tiles (the least noisy reference): ``seam_rate``,
    ``control_rate``, ``inside_rate``."""
    seams = []
    inside = np.zeros(2, np.int64)  # ends, touching over the planes inside the tiles
    for axis, (size, tile, count) in enumerate(zip(grid.shape, grid.tile_shape, grid.counts)):
        ends, crossing = plane_counts(bbox_start[:, axis], bbox_stop[:, axis], size)
        planes = np.arange(1, size)
        planes = planes[planes % tile != 0]
        inside += [ends[planes].sum(), (ends[planes] + crossing[planes]).sum()]
        for i in range(1, count):
            q = i * tile
            c = q + (min(q + tile, size) - q) // 2  # inside the next tile; == q when it is 1 voxel thick
            seams.append({"axis": names[axis], "position": q, "ends": int(ends[q]),
                          "crossing": int(crossing[q]), "rate": _rate(ends[q], crossing[q]),
                          "control_position": c, "control_ends": int(ends[c]),
                          "control_crossing": int(crossing[c]),
                          "control_rate": _rate(ends[c], crossing[c]) if c > q else None})

    def pooled(prefix: str) -> float | None:
        counted = [s for s in seams if s[f"{prefix}rate"] is not None]
        ends = sum(s[f"{prefix}ends"] for s in counted)
        return _rate(ends, sum(s[f"{prefix}crossing"] for s in counted))

    return {"seams": seams, "seam_rate": pooled(""), "control_rate": pooled("control_"),
            "inside_rate": _rate(int(inside[0]), int(inside[1] - inside[0]))}
