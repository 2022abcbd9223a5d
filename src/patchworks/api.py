"""The Python API: ``tile_process(image, fn, ...)`` runs any tile function over a big image."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr

from .io.ngff import read_image_info
from .methods import Context, build_method
from .pipeline import local
from .tiling.sizing import auto_tile_shape

TileShape = tuple[int, ...] | Callable[[tuple[int, ...], Any], tuple[int, ...]] | str | None


def tile_process(
    image: da.Array | str | Path,
    fn: Callable[[np.ndarray], np.ndarray],
    *,
    tile_shape: TileShape = None,
    overlap: int | tuple[int, ...] = 16,
    channel: int | None = 0,
    level: int = 0,
    use_gpu: bool = False,
    max_workers: int | None = None,
    write_to: str | Path | None = None,
    output_component: str = "labels",
    pyramid_levels: int | str = "auto",
    pyramid_downscale: int | str = "auto",
    skip_empty: bool = False,
    empty_threshold: float | None = None,
    connectivity: int = 1,
    stage_dir: str | Path | None = None,
    keep_stage: bool = False,
    overwrite: bool = False,
) -> da.Array:
    """Apply ``fn`` to every tile of ``image`` and merge the labels globally; ids are 1..N.

    ``image`` is an OME-Zarr path or a dask array (2-D y/x or 3-D z/y/x). ``fn`` maps a tile
    (with ``overlap`` voxels of context on every side, clipped at the image border) to integer
    labels of the same shape. ``tile_shape`` is a tuple, a callable ``(shape, dtype) -> tuple``
    (e.g. ``functools.partial(auto_tile_shape_cellpose, diameter=30)``), "auto" (sized to this
    machine's memory, or with ``use_gpu`` the GPU's), or None for the image's storage chunks; a
    scalar ``overlap`` is clipped per axis to the tile size minus one (so ``tile_shape=(1, Y, X)``
    gives ``fn`` single z-planes). Labels touching
    across tile borders under ``connectivity`` are merged. Labels go into
    ``<image>/labels/<output_component>`` (or ``<write_to>/labels/<output_component>``) as an
    NGFF label pyramid; "auto" levels and downscale follow the image's own pyramid, as NGFF
    requires for labels in the image's store.
    Empty tiles (max <= ``empty_threshold``, default Otsu of the image) skip ``fn`` when
    ``skip_empty``. Returns level 0 as a lazy dask array.
    """
    tmp = Path(tempfile.mkdtemp(prefix="patchworks-"))
    if isinstance(image, da.Array):
        store = tmp / "image.ome.zarr"
        _array_to_ngff(image, store)
        write_to = write_to or tmp / "labels.zarr"
    else:
        store = Path(image)
    try:
        info = read_image_info(store, level)
        shape = info.spatial_shape
        if tile_shape is None:
            chunks = zarr.open_array(str(store / info.path), mode="r").chunks
            tiles = tuple(chunks[i] for i in info.spatial_axes)
        elif tile_shape == "auto":
            tiles = auto_tile_shape(shape, info.dtype, use_gpu=use_gpu)
        elif callable(tile_shape):
            tiles = tuple(tile_shape(shape, info.dtype))
        else:
            tiles = tuple(tile_shape)
        tiles = tuple(min(t, s) for t, s in zip(tiles, shape))
        halo = [min(overlap, t - 1) for t in tiles] if isinstance(overlap, int) else list(overlap)
        config = {
            "input": {"store": str(store), "channel": channel or 0, "level": level},
            "output": {"store": str(write_to) if write_to else None, "label_name": output_component,
                       "overwrite": overwrite},
            "workdir": str(stage_dir or tmp),
            "tiling": {"tile_shape": list(tiles), "overlap": halo, "skip_empty": skip_empty,
                       "empty_threshold": "otsu" if empty_threshold is None else empty_threshold},
            "method": {"name": "custom"},
            "connectivity": connectivity,
            "pyramid": {"levels": pyramid_levels, "downscale": pyramid_downscale},
        }
        plan = local.run(config, workers=max_workers or max(1, (os.cpu_count() or 2) - 1), fn=fn)
        if not keep_stage:
            shutil.rmtree(plan.workdir, ignore_errors=True)
        level0 = da.from_zarr(str(plan.label.path / "0"))
        return level0[plan.label.selection(tuple(slice(None) for _ in shape))]
    finally:
        shutil.rmtree(tmp / "image.ome.zarr", ignore_errors=True)
        if not any(tmp.iterdir()):
            tmp.rmdir()


def _array_to_ngff(array: da.Array, store: Path) -> None:
    """Stream a 2-D/3-D dask array into a single-level NGFF 0.5 image."""
    if array.ndim not in (2, 3):
        raise ValueError(f"image: a dask array must be 2-D (y, x) or 3-D (z, y, x), not {array.ndim}-D")
    names = "zyx"[-array.ndim:]
    group = zarr.open_group(str(store), mode="w", zarr_format=3)
    target = group.create_array("0", shape=array.shape, dtype=array.dtype,
                                chunks=tuple(c[0] for c in array.chunks), dimension_names=list(names))
    da.store(array, target, lock=False)
    axes = [{"name": n, "type": "space"} for n in names]
    group.attrs.put({"ome": {"version": "0.5", "multiscales": [{"axes": axes, "datasets": [
        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0] * array.ndim}]}]}]}})


def cellpose_fn(model: str = "cyto3", *, intensity_range: tuple[float, float], gpu: bool = False,
                diameter: float | None = None, do_3D: bool = False, nuclear_channel: int | None = None,
                **eval_kwargs: Any) -> Callable[[np.ndarray], np.ndarray]:
    """A tile function running Cellpose (a model name or weights file) on tiles scaled by the
    image's ``intensity_range`` (e.g. its 1st and 99.8th percentiles), the same for every tile.
    With ``nuclear_channel`` the tile carries a last axis: (cytoplasm, nucleus)."""
    cfg = {"model": model, "gpu": gpu, "diameter": diameter, "do_3D": do_3D, "stitch_threshold": 0.0,
           "nuclear_channel": nuclear_channel, "eval_kwargs": eval_kwargs}
    return build_method({"name": "cellpose", "cellpose": cfg}, Context(1, intensity_range=intensity_range))


def stardist_fn(model: str, *, intensity_range: tuple[float, float], prob_thresh: float | None = None,
                nms_thresh: float | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A tile function running a StarDist model (folder or registered name) on tiles scaled by the
    image's ``intensity_range``, the same for every tile."""
    cfg = {"model": model, "prob_thresh": prob_thresh, "nms_thresh": nms_thresh, "gpu": False}
    return build_method({"name": "stardist", "stardist": cfg}, Context(1, intensity_range=intensity_range))
