"""Dask arrays into zarr for the Python API: computed block by block (each block writes its own
chunks) on the active dask scheduler, with a progress bar; and NGFF image groups around them."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any
from uuid import uuid4

import dask
import dask.array as da
import numpy as np
import zarr

SPATIAL = "zyx"


def _write_block(block: np.ndarray, target: zarr.Array, block_info: dict | None = None) -> np.ndarray:
    region = tuple(slice(a, b) for a, b in block_info[0]["array-location"])
    target[region] = block
    return np.zeros((1,) * block.ndim, dtype=np.int8)


def store(array: da.Array, target: zarr.Array, *, progress: bool = False, desc: str = "store",
          workers: int | None = None, client: Any = None) -> None:
    """Compute ``array`` into ``target`` (whose chunks are the array's blocks), one task per block:
    on ``client`` if given, else dask's threads (``workers`` of them). Memory: a few blocks."""
    from tqdm.auto import tqdm

    written = array.map_blocks(partial(_write_block, target=target), dtype=np.int8,
                               chunks=(1,) * array.ndim, meta=np.empty((0,) * array.ndim, np.int8),
                               name=f"patchworks-store-{uuid4().hex}")
    parts = list(written.to_delayed().ravel())
    with tqdm(total=len(parts), desc=desc, unit="tile", disable=not progress) as bar:
        if client is not None:
            from distributed import as_completed

            futures = client.compute(parts)
            try:
                for f in as_completed(futures):
                    f.result()
                    bar.update()
            finally:
                client.cancel(futures)
            return
        from dask.callbacks import Callback

        keys = {p.key for p in parts}

        class Bar(Callback):
            def _posttask(self, key: Any, *_: Any) -> None:
                if key in keys:
                    bar.update()

        with Bar():
            dask.compute(*parts, scheduler="threads", num_workers=workers)


def regular(array: da.Array, what: str) -> tuple[int, ...]:
    """The block shape of ``array``; ValueError if its blocks are not regular (all equal but the last
    along each axis), which zarr chunks need."""
    for axis, sizes in enumerate(array.chunks):
        if len(sizes) > 1 and (len(set(sizes[:-1])) > 1 or sizes[-1] > sizes[0]):
            raise ValueError(f"{what}: the dask blocks along axis {axis} are irregular {sizes}; they must "
                             f"all be equal but the last (e.g. .rechunk({array.chunksize}))")
    return tuple(c[0] for c in array.chunks)


def ngff_group(path: Path, shape: tuple[int, ...], dtype: Any, chunks: tuple[int, ...]) -> zarr.Array:
    """An NGFF 0.5 single-level image group at ``path`` (axes z/y/x or y/x, unit voxels) with an empty
    level 0 of ``shape``, returned for filling (or left empty as metadata for a merge)."""
    if len(shape) not in (2, 3):
        raise ValueError(f"image: a dask array must be 2-D (y, x) or 3-D (z, y, x), not {len(shape)}-D")
    names = SPATIAL[-len(shape):]
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    target = group.create_array("0", shape=shape, dtype=dtype, chunks=chunks, dimension_names=list(names))
    axes = [{"name": n, "type": "space"} for n in names]
    group.attrs.put({"ome": {"version": "0.5", "multiscales": [{"axes": axes, "datasets": [
        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0] * len(shape)}]}]}]}})
    return target
