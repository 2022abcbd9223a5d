"""The ``stage`` step: segment one tile (with its halo) and store its labels numbered 1..n."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import fastremap
import numpy as np
import zarr

from ..errors import MethodError
from ..io import atomic, chunked
from ..io.ngff import ImageSource
from ..measure.tile import measure_tile
from ..merge.planes import save_boundary_planes
from ..methods import TileFn
from ..tiling.grid import TileGrid
from .thresholds import Threshold, is_empty

logger = logging.getLogger(__name__)


def describe_tile(grid: TileGrid, tile: int) -> str:
    """A tile's number, grid position and voxel region, for messages."""
    return str(grid.tile(tile))


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
    empty_threshold: Threshold | None = None,
    bands_file: str | None = None,
    measures_file: str | None = None,
    planes_file: str | None = None,
    intensity: ImageSource | None = None,
) -> dict[str, Any]:
    """Segment ``tile`` and write its labels, renumbered 1..n, to its region of ``stage``.

    The halo read is the grid's overlap, cut to ``fn.reach`` where the method declares it (a pointwise
    threshold reads no halo: it cannot change the labels). A tile whose read block (core plus halo)
    has max <= ``empty_threshold`` is not segmented.
    With ``bands_file`` (stitch mode iou) the tile's prediction in the overlap band around its core
    is kept there too, numbered as in its core (labels seen only in the band: 0). With
    ``measures_file`` the labels' partial measurements are written there, over the intensities of
    the block read (its first channel), or of ``intensity`` where the block is not the image (staged).
    With ``planes_file`` its boundary planes are kept there, for the face jobs.
    """
    t0 = time.perf_counter()
    reach = getattr(fn, "reach", None)
    if reach is not None and not bands_file:  # the iou stitch needs the prediction in the overlap
        grid = replace(grid, overlap=tuple(min(o, reach) for o in grid.overlap))
    t = grid.tile(tile)  # after the reach cut: it sets the halo
    block = read_block(source, t.halo, getattr(fn, "extra_channels", ()))
    spatial = block.shape[:grid.ndim]
    logger.info("%s: block (tile with halo) of shape %s", t, block.shape)
    t1 = time.perf_counter()
    core = t.core_in_halo
    skipped = empty_threshold is not None and is_empty(block, empty_threshold)
    bands: dict[str, np.ndarray] = {}
    if skipped:
        labels = np.zeros(tuple(s.stop - s.start for s in core), dtype=np.uint32)
    else:
        where = str(t)
        try:
            result = fn(block)
        except Exception as err:
            raise MethodError(f"{where}: the method raised {type(err).__name__}: {err}") from err
        full = check_labels(result, spatial, where)
        del result
        if getattr(fn, "sequential", False) and t.halo == t.core:
            labels = full  # the block is the tile (no band beyond it), numbered 1..n already
        else:
            labels = np.ascontiguousarray(full[core])
            # renumber in place when that is our own copy (never the method's array)
            labels, mapping = fastremap.renumber(labels, preserve_zero=True,
                                                 in_place=not np.may_share_memory(labels, full))
            if bands_file:
                bands = overlap_bands(full, core, mapping)
        del full
        labels = labels.astype(np.uint32, copy=False)
    t2 = time.perf_counter()
    if measures_file:  # memory: the block, the core's labels and the measurement's slabs
        channel = (0,) * (block.ndim - grid.ndim)  # extra channels stack on a last axis: the first
        values = intensity.read(t.core) if intensity else block[core + channel]
        measure_tile(labels, values, tuple(s.start for s in t.core)).save(measures_file)
        del values  # a view of the block: it would keep the block through the write
    del block
    t3 = time.perf_counter()
    chunked.write(stage, t.core, labels)
    if planes_file:
        save_boundary_planes(planes_file, labels)
    if bands_file:
        atomic.save_npz(bands_file, bands)
    t4 = time.perf_counter()
    return {
        "tile": tile,
        "count": int(labels.max()) if labels.size else 0,
        "skipped": bool(skipped),
        "seconds": {"read": t1 - t0, "method": t2 - t1, "measure": t3 - t2, "write": t4 - t3},
    }


def read_block(source: ImageSource, region: tuple[slice, ...], extra_channels: Any) -> np.ndarray:
    """The tile's voxels; with extra channels (e.g. a nuclear channel) stacked on a last axis."""
    block = source.read(region)
    if not extra_channels:
        return block
    return np.stack([block, *(source.read(region, channel=c) for c in extra_channels)], axis=-1)


def overlap_bands(full: np.ndarray, core: tuple[slice, ...], mapping: dict[int, int]
                  ) -> dict[str, np.ndarray]:
    """The prediction beyond each face of the core (``"<axis>-lo"``, ``"<axis>-hi"``), numbered as the
    core's labels (``mapping``); labels found only outside the core become 0."""
    bands = {}
    for axis, c in enumerate(core):
        for side, band in (("lo", slice(0, c.start)), ("hi", slice(c.stop, full.shape[axis]))):
            if band.stop > band.start:
                part = np.ascontiguousarray(full[core[:axis] + (band,) + core[axis + 1:]])
                table = {int(i): mapping.get(int(i), 0) for i in fastremap.unique(part)}
                bands[f"{axis}-{side}"] = fastremap.remap(part, table).astype(np.uint32, copy=False)
    return bands
