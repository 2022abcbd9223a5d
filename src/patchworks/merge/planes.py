"""A tile's boundary planes: its staged labels on the first and last plane of its core along every
axis. Its stage job keeps them, from the labels it holds, so that a face job reads a few hundred KB
instead of decoding every stage-store chunk that a plane crosses (a 128 x 1024 x 1024 tile: 10 MB
of planes, 0.4 MB deflated, against 256 MB of chunks decoded for one of its z faces)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from ..io import atomic
from ..tiling.grid import Slices, TileGrid


def save_boundary_planes(path: str, labels: np.ndarray) -> None:
    """Keep the first (``lo-<axis>``) and last (``hi-<axis>``) plane of ``labels`` along every axis."""
    atomic.save_npz(path, {
        f"{side}-{axis}": labels[(slice(None),) * axis + (slice(i, i + 1),)]
        for axis, n in enumerate(labels.shape) for side, i in (("lo", 0), ("hi", n - 1))
    })


def read_plane(grid: TileGrid, planes_file: Callable[[int], str], region: Slices, axis: int) -> np.ndarray:
    """The staged labels of ``region``, one voxel thick along ``axis`` and on the first or last plane
    (along ``axis``) of every tile it crosses, put together from those tiles' boundary planes."""
    out = np.empty(tuple(s.stop - s.start for s in region), dtype=np.uint32)
    index_ranges = [range(grid.tile_of(s.start, ax), grid.tile_of(s.stop - 1, ax) + 1)
                    for ax, s in enumerate(region)]
    plane = region[axis].start
    for index in itertools.product(*index_ranges):
        tile = grid.flat(index)
        core = grid.core(tile)
        side = "lo" if plane == core[axis].start else "hi" if plane == core[axis].stop - 1 else None
        if side is None:
            raise ValueError(f"plane {plane} along axis {axis} is not a boundary plane of tile {tile}")
        part = tuple(slice(max(r.start, c.start), min(r.stop, c.stop)) for r, c in zip(region, core))
        with np.load(planes_file(tile)) as planes:
            saved = planes[f"{side}-{axis}"]
        out[tuple(slice(p.start - r.start, p.stop - r.start) for p, r in zip(part, region))] = saved[tuple(
            slice(0, 1) if ax == axis else slice(p.start - c.start, p.stop - c.start)
            for ax, (p, c) in enumerate(zip(part, core)))]
    return out
