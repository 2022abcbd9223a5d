"""Empty tiles: a region's maxima read a few chunks at a time, and how many tiles of an image are
empty (``estimate_empty_tiles``), by the rule the stage step skips them with (``thresholds.is_empty``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..io import chunked
from ..io.ngff import ImageSource, read_image_info
from ..tiling import resolve
from ..tiling.grid import TileGrid
from .thresholds import Threshold, is_empty, peak

SAMPLE_VOXELS = 16_000_000  # the workflow's statistics.sample_voxels default


def region_peaks(source: ImageSource, region: tuple[slice, ...]) -> np.ndarray:
    """The maxima of ``region``'s parts (NaN left out), in the image's type, decoding a few chunks at a
    time: ``peak`` and ``is_empty`` of them are those of the whole region."""
    array = source.array
    parts = (np.asarray(array[p]) for p in chunked.pieces(source.selection(region), array.chunks,
                                                            array.dtype.itemsize))
    return np.array([top for top in map(peak, parts) if top is not None], dtype=array.dtype)


def estimate_empty_tiles(image: str | Path, tile_shape: resolve.TileShape = None, *, overlap: Any = 16,
                         threshold: Threshold | None = None, channel: int = 0, level: int = 0,
                         from_level: int | None = None, sample_voxels: int = SAMPLE_VOXELS,
                         padding_value: float | str | None = "auto") -> dict[str, Any]:
    """How many tiles of an OME-Zarr image ``tile_process(..., skip_empty=True)`` would skip.

    Tiles and overlap are taken as ``tile_process`` takes them, and a tile is empty when its
    maximum over the tile and its halo is <= ``threshold`` (None: Otsu's threshold of a bounded
    sample of the image, ``padding_value`` left out, as ``empty_threshold=None`` derives it). Memory
    stays bounded: each tile
    is read a few chunks at a time (exact), or with ``from_level`` its share of that coarser pyramid
    level is read instead (faster; a lower level holds block means, so a small bright object may be
    missed and its tile counted empty). The result says which (``read``, ``exact``).
    """
    if not isinstance(image, str | Path):
        raise TypeError("estimate_empty_tiles: image must be the path of an OME-Zarr image; for a dask "
                        "array, pass tile_process an empty_threshold instead")
    info = read_image_info(image, level)
    tiles = resolve.tile_shape(tile_shape, info)
    grid = TileGrid(info.spatial_shape, tiles, tuple(resolve.overlap(overlap, tiles)))
    source = ImageSource(info, channel)
    given = threshold is not None
    if threshold is None:  # as the workflow's threshold step computes it
        from .sampling import otsu_threshold, sample  # scikit-image: imported only here

        threshold = otsu_threshold(sample(source, sample_voxels, padding_value).values)
    read_level = level if from_level is None else from_level
    if read_level == level:
        def region(t: int) -> tuple[slice, ...]:
            return grid.halo(t)
        read = f"level {level}, each tile with its halo, a few chunks at a time (exact)"
    else:
        coarse = read_image_info(image, read_level)
        source = ImageSource(coarse, channel)
        factors = [a / b for a, b in zip(info.spatial_shape, coarse.spatial_shape)]

        def region(t: int) -> tuple[slice, ...]:
            return tuple(slice(int(s.start // f), min(n, max(int(s.start // f) + 1, math.ceil(s.stop / f))))
                         for s, f, n in zip(grid.halo(t), factors, coarse.spatial_shape))
        read = (f"pyramid level {read_level} (factors {tuple(round(f, 3) for f in factors)} of level "
                f"{level}), each tile's share with its halo (approximate: block means)")
    empty = [t for t in range(grid.n_tiles) if is_empty(region_peaks(source, region(t)), threshold)]
    n = grid.n_tiles
    return {
        "threshold": threshold, "threshold_from": "given" if given else "otsu",
        "n_tiles": n, "n_empty": len(empty), "n_nonempty": n - len(empty),
        "empty_fraction": len(empty) / n, "empty_tiles": empty,
        "tile_shape": grid.tile_shape, "overlap": grid.overlap, "grid": grid.counts,
        "read": read, "level_read": read_level, "exact": read_level == level,
    }
