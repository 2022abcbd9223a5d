"""Writing the converted OME-Zarr: empty levels, a region of level 0 from the file, a lower level
from the one above (on disk), and the NGFF metadata that makes it complete."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from ..io import chunked
from ..tiling.grid import TileGrid
from .layout import READ_BUDGET, VERSION, Layout
from .source import AXES, Source

OWNER_KEY = "patchworks"


def create(store: str, layout: Layout, grid: TileGrid, fingerprint: dict[str, Any]) -> None:
    """(Re)create the store with empty levels, marked incomplete."""
    if Path(store).exists():
        shutil.rmtree(store)
    group = zarr.open_group(store, mode="w", zarr_format=3)
    group.attrs.put({OWNER_KEY: {"converted_from": fingerprint, "complete": False}})
    for level in range(layout.levels):
        group.create_array(str(level), shape=layout.shape(level), dtype=layout.header.dtype, fill_value=0,
                           chunks=layout.chunks(level, grid), dimension_names=list(layout.axes))


def record(store: str) -> dict[str, Any] | None:
    """What the conversion recorded in the store (None when there is no store)."""
    try:
        return zarr.open_group(store, mode="r").attrs.asdict().get(OWNER_KEY)
    except Exception:
        return None


def write_region(source: Source, layout: Layout, store: str, region: slice) -> None:
    """Copy ``region`` (a slab along the first spatial axis) of every timepoint and channel from
    the file into level 0, reading at most READ_BUDGET of pixels (and at least one chunk row) at once."""
    array = zarr.open_array(f"{store}/0", mode="r+")
    first = layout.axes[layout.spatial[0]]
    size = dict(zip(AXES, source.header.shape))
    row_bytes = math.prod(size[a] for a in "zyx" if a != first) * layout.header.dtype.itemsize
    chunk = array.chunks[layout.spatial[0]]
    step = max(chunk, READ_BUDGET // row_bytes // chunk * chunk)
    for start in range(region.start, region.stop, step):
        zyx = {a: slice(0, size[a]) for a in "zyx"}
        zyx[first] = slice(start, min(start + step, region.stop))
        for t in range(size["t"]):
            for c in range(size["c"]):
                block = source.read(t, c, (zyx["z"], zyx["y"], zyx["x"]))
                sel = tuple(t if a == "t" else c if a == "c" else zyx[a] for a in layout.axes)
                chunked.write(array, sel, block if "z" in layout.axes else block[0])


def halve_yx(block: np.ndarray, axes: str) -> np.ndarray:
    """Mean of every 2 x 2 in y/x (an odd last row or column is its own mean), rounded, in the input's
    dtype. Summed in float32 for 8/16-bit input (exact there), float64 otherwise."""
    work = np.float32 if block.dtype.itemsize <= 2 else np.float64
    out = block
    for i, a in enumerate(axes):
        if a in "yx":
            out = _halve(out, i, work)
    if np.issubdtype(block.dtype, np.integer):
        out = np.rint(out, out=out)
    return out.astype(block.dtype)


def _halve(a: np.ndarray, axis: int, work: type) -> np.ndarray:
    """Pairwise means along ``axis`` (views, one accumulator of half the size)."""
    even = [slice(None)] * a.ndim
    odd = list(even)
    even[axis], odd[axis] = slice(0, None, 2), slice(1, None, 2)
    acc = a[tuple(even)].astype(work)
    second = a[tuple(odd)]
    pairs = [slice(None)] * a.ndim
    pairs[axis] = slice(0, second.shape[axis])
    acc[tuple(pairs)] += second
    if a.shape[axis] % 2:  # the last one pairs with itself
        last = list(pairs)
        last[axis] = slice(-1, None)
        acc[tuple(last)] *= 2
    acc /= 2
    return acc


def build_level(layout: Layout, store: str, level: int) -> None:
    """Level ``level`` from level ``level - 1`` on disk, a few chunks at a time."""
    above = zarr.open_array(f"{store}/{level - 1}", mode="r")
    below = zarr.open_array(f"{store}/{level}", mode="r+")
    everything = tuple(slice(0, n) for n in below.shape)
    for part in chunked.pieces(everything, below.chunks, below.dtype.itemsize, READ_BUDGET // 16):
        source = tuple(slice(2 * s.start, min(2 * s.stop, n)) if a in "yx" else s
                       for s, a, n in zip(part, layout.axes, above.shape))
        below[part] = halve_yx(chunked.read(above, source), layout.axes)


def publish(store: str, layout: Layout, fingerprint: dict[str, Any]) -> None:
    """Write the NGFF metadata and mark the store complete."""
    group = zarr.open_group(store, mode="r+")
    name = Path(layout.header.path).name
    group.attrs.put({
        "ome": {"version": VERSION, "multiscales": [layout.multiscales(name)],
                "omero": layout.omero()},
        OWNER_KEY: {"converted_from": fingerprint, "complete": True},
    })
