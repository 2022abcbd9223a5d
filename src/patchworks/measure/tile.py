"""Per-tile partial measurements of the staged labels (written by the stage step).

For each local label 1..n of a tile: voxel count, sum of its voxel coordinates, bounding box and the
sum, minimum and maximum of the segmented channel's intensity over its voxels. Partials of the labels
that cc joins into one object add up (counts, sums) or combine by min/max, so the object table is
built from these alone, without reading the image again (:mod:`patchworks.measure.objects`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ..io import atomic

SLAB_VOXELS = 1 << 18  # voxels looked at at once: about 20 MB of index and coordinate temporaries


@dataclass
class TileMeasures:
    """Column i describes local label i + 1 of the tile. Coordinates are the tile's own, counted from
    ``origin`` (its first voxel in the image), in the narrowest unsigned type that holds the tile's
    shape: about 56 bytes per label while the stage job measures."""

    origin: np.ndarray  # (ndim,) int64
    count: np.ndarray  # (n,) int64
    local_coord_sum: np.ndarray  # (ndim, n) float64, exact (each sum < 2**53 for any tile in memory)
    local_start: np.ndarray  # (ndim, n) inclusive
    local_stop: np.ndarray  # (ndim, n) exclusive
    intensity_sum: np.ndarray  # (n,) float64
    intensity_min: np.ndarray  # (n,) the image's dtype (a mask's: uint8, see measured_dtype)
    intensity_max: np.ndarray  # (n,)

    @property
    def n(self) -> int:
        return len(self.count)

    @property
    def coord_sum(self) -> np.ndarray:
        """(ndim, n) int64: per axis, the sums of the labels' global voxel coordinates."""
        return np.rint(self.local_coord_sum).astype(np.int64) + self.origin[:, None] * self.count

    @property
    def bbox_start(self) -> np.ndarray:
        """(ndim, n) int64: global, inclusive."""
        return self.local_start.astype(np.int64) + self.origin[:, None]

    @property
    def bbox_stop(self) -> np.ndarray:
        """(ndim, n) int64: global, exclusive."""
        return self.local_stop.astype(np.int64) + self.origin[:, None]

    def save(self, path: str | Path) -> None:
        atomic.save_npz(path, {f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def load(cls, path: str | Path) -> TileMeasures:
        with np.load(path) as data:
            return cls(**{f.name: data[f.name] for f in fields(cls)})


def measured_dtype(dtype: np.dtype) -> np.dtype:
    """The type of the intensities as measured: the image's; a mask's (bool) as its values 0/1, uint8."""
    return np.dtype(np.uint8) if dtype.kind == "b" else dtype


def extremes(dtype: np.dtype) -> tuple[np.generic, np.generic]:
    info = np.finfo(dtype) if dtype.kind == "f" else np.iinfo(dtype)
    top, bottom = (np.inf, -np.inf) if dtype.kind == "f" else (info.max, info.min)
    return dtype.type(top), dtype.type(bottom)


def measure_tile(labels: np.ndarray, intensity: np.ndarray, origin: tuple[int, ...]) -> TileMeasures:
    """Measure every label 1..n of ``labels`` (numbered without gaps); ``intensity`` has its shape and
    ``origin`` is the tile's first voxel in the image. Counts, coordinate sums and bounding boxes are
    taken per run (a row's stretch of one label along the last axis: about 3.6 voxels in the benchmark
    image), from its start and length; intensities per voxel. Memory: the inputs, the
    partials (about 56 bytes per label) and temporaries for SLAB_VOXELS voxels (whole rows). Each slab
    touches only the ids it holds (the window from its smallest to its largest), so labels numbered in
    raster order, as connected components number them, cost time by voxels, not by voxels x labels."""
    if labels.shape != intensity.shape:
        raise ValueError(f"labels {labels.shape} and intensity {intensity.shape} differ in shape")
    n, ndim = (int(labels.max()) if labels.size else 0), labels.ndim
    intensity = intensity.view(measured_dtype(intensity.dtype))
    dtype = intensity.dtype
    place = np.min_scalar_type(max(labels.shape, default=0))  # every coordinate, and one past the last
    count = np.zeros(n + 1, np.int64)
    coord_sum = np.zeros((ndim, n + 1), np.float64)
    total = np.zeros(n + 1, np.float64)
    top, bottom = extremes(dtype)
    low, high = np.full(n + 1, top, dtype), np.full(n + 1, bottom, dtype)
    box_low = np.full((ndim, n + 1), np.iinfo(place).max, place)
    box_high = np.zeros((ndim, n + 1), place)
    flat_labels = np.ascontiguousarray(labels).reshape(-1)
    flat_values = np.ascontiguousarray(intensity).reshape(-1)
    row = labels.shape[-1] if labels.size else 1
    step = row * max(1, SLAB_VOXELS // row)
    for start in range(0, flat_labels.size, step):
        part, values = flat_labels[start:start + step], flat_values[start:start + step]
        edge = np.empty(part.size, bool)  # where a run starts: a row's first voxel or a change of label
        np.not_equal(part[1:], part[:-1], out=edge[1:])
        edge[::row] = True
        begin = np.flatnonzero(edge)
        ids = part[begin]
        keep = np.flatnonzero(ids)
        if not keep.size:
            continue
        length = np.diff(begin, append=part.size)[keep]
        ids = ids[keep].astype(np.intp)
        first = int(ids.min())
        window, local = slice(first, int(ids.max()) + 1), ids - first
        span = window.stop - first
        count[window] += np.bincount(local, weights=length, minlength=span).astype(np.int64)
        coords = np.unravel_index(begin[keep] + start, labels.shape)
        for axis, coord in enumerate(coords):
            if axis == ndim - 1:  # along the row: coord, coord + 1, ..., coord + length - 1
                weights = length * coord + length * (length - 1) // 2
                last = coord + length - 1
            else:
                weights, last = length * coord, coord
            coord_sum[axis, window] += np.bincount(local, weights=weights, minlength=span)
            np.minimum.at(box_low[axis], ids, coord.astype(place))
            np.maximum.at(box_high[axis], ids, last.astype(place))
        voxel_ids = np.repeat(ids, length)  # the foreground's voxels in order, run by run
        voxel_values = values[part != 0]
        total[window] += np.bincount(voxel_ids - first, weights=voxel_values, minlength=span)
        np.minimum.at(low, voxel_ids, voxel_values)
        np.maximum.at(high, voxel_ids, voxel_values)
    box_high += 1
    return TileMeasures(np.asarray(origin, np.int64), count[1:], coord_sum[:, 1:], box_low[:, 1:],
                        box_high[:, 1:], total[1:], low[1:], high[1:])
