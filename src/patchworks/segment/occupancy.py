"""Empty tiles: a region's maximum read a few chunks at a time, and how many tiles of an image are
empty (``estimate_empty_tiles``), by the rule the stage step skips them with."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..io import chunked
from ..io.ngff import ImageSource, read_image_info
from ..tiling import resolve
from ..tiling.grid import TileGrid

SAMPLE_VOXELS = 16_000_000  # the workflow's statistics.sample_voxels default


def region_max(source: ImageSource, region: tuple[slice, ...]) -> float | None:
    """The maximum of ``region`` (None if it is empty), decoding a few chunks at a time."""
    array = source.array
    peak = None
    for part in chunked.pieces(source.selection(region), array.chunks, array.dtype.itemsize):
        block = np.asarray(array[part])
        if block.size:
            value = float(block.max())
            peak = value if peak is None else max(peak, value)
    return peak


def is_empty(peak: float | None, threshold: float) -> bool:
    """The stage step's rule: a tile (with its halo) whose maximum is <= threshold is not segmented."""
    return peak is None or peak <= threshold


def estimate_empty_tiles(image: str | Path, tile_shape: resolve.TileShape = None, *, overlap: Any = 16,
                         threshold: float | None = None, channel: int = 0, level: int = 0,
                         from_level: int | None = None, sample_voxels: int = SAMPLE_VOXELS
                         ) -> dict[str, Any]:
    """How many tiles of an OME-Zarr image ``tile_process(..., skip_empty=True)`` would skip.

    Tiles and overlap are taken as ``tile_process`` takes them, and a tile is empty when its
    maximum over the tile and its halo is <= ``threshold`` (None: Otsu's threshold of a bounded
    sample of the image, as ``empty_threshold=None`` derives it). Memory stays bounded: each tile
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
    if threshold is None:
        from .sampling import otsu_threshold  # scikit-image: imported only here

        threshold = otsu_threshold(source, sample_voxels)
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
    empty = [t for t in range(grid.n_tiles) if is_empty(region_max(source, region(t)), threshold)]
    n = grid.n_tiles
    return {
        "threshold": float(threshold), "threshold_from": "given" if given else "otsu",
        "n_tiles": n, "n_empty": len(empty), "n_nonempty": n - len(empty),
        "empty_fraction": len(empty) / n, "empty_tiles": empty,
        "tile_shape": grid.tile_shape, "overlap": grid.overlap, "grid": grid.counts,
        "read": read, "level_read": read_level, "exact": read_level == level,
    }
