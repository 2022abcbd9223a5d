"""The Python API: ``tile_process(image, fn)`` segments a big image tile by tile and
``merge_tile_labels(labels)`` merges per-tile labels made elsewhere. Both run the workflow's own
steps (stage, faces, cc, relabel, pyramid; ``pipeline/local.py``) in this process, or their
per-tile jobs on the active dask.distributed client."""

from __future__ import annotations

import logging
import math
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr

from .errors import ConfigError, InputError
from .io.dask_arrays import ngff_group, regular, store
from .io.ngff import ImageInfo, read_image_info
from .methods import method_of
from .methods.tile_fn import MethodFn
from .pipeline import local
from .pipeline.cluster import active_client, check_client
from .pipeline.config import validate_config
from .pipeline.executor import tile_logging
from .pipeline.plan import Plan
from .tiling import resolve
from .tiling.sizing import worker_count

logger = logging.getLogger(__name__)

#: Config keys in error messages, as the API's parameters name them (longest first).
API_NAMES = [
    ("output.overwrite: true", "overwrite=True"), ("output.overwrite", "overwrite"),
    ("output.label_name", "output_component"), ("output.store", "write_to"), ("output.dtype", "dtype"),
    ("input.store", "image"), ("input.channel", "channel"), ("input.level", "level"),
    ("tiling.tile_shape", "tile_shape"), ("tiling.overlap", "overlap"), ("tiling.skip_empty", "skip_empty"),
    ("tiling.empty_threshold", "empty_threshold"), ("pyramid.levels", "pyramid_levels"),
    ("pyramid.downscale", "pyramid_downscale"), ("stitch.mode", "stitch"), ("workdir", "stage_dir"),
    ("method.staged.component", "input_component"), ("method.staged.store", "labels"),
    ("method.staged", "labels"),
]


def api_message(message: str) -> str:
    """A config error's message in the API's words."""
    for key, name in API_NAMES:
        message = re.sub(rf"(?<![\w.]){re.escape(key)}(?![\w])", name, message)
    return message


@contextmanager
def _api_errors() -> Iterator[None]:
    try:
        yield
    except (ConfigError, InputError) as err:
        raise type(err)(api_message(str(err))) from err


def _client() -> Any:
    """The active dask.distributed client (checked: its workers must be processes), or None."""
    client = active_client()
    if client is not None:
        check_client(client)
    return client


@dataclass(frozen=True)
class Planes:
    """``fn`` on the (y, x) plane of a tile one z-plane thick; its labels given back that tile's shape."""

    fn: Callable[[np.ndarray], Any]

    def __call__(self, block: np.ndarray) -> np.ndarray:
        labels = np.asarray(self.fn(block[0]))
        return labels[None] if labels.ndim == block.ndim - 1 else labels


def tile_process(
    image: da.Array | str | Path,
    fn: Callable[[np.ndarray], np.ndarray],
    *,
    tile_shape: resolve.TileShape = None,
    overlap: int | Sequence[int] = 16,
    channel: int | None = 0,
    level: int = 0,
    use_gpu: bool = False,
    max_workers: int | None = None,
    progress: bool = True,
    write_to: str | Path | None = None,
    output_component: str = "labels",
    pyramid_levels: int = 5,
    pyramid_downscale: int = 2,
    sequential_labels: bool = False,
    skip_empty: bool = False,
    empty_threshold: float | None = None,
    stage_dir: str | Path | None = None,
    keep_stage: bool = False,
    verbose: bool = False,
    connectivity: int = 1,
    dtype: str = "int32",
    stitch: str = "touch",
    overwrite: bool = False,
) -> da.Array:
    """Apply ``fn`` to every tile of ``image`` and merge the labels globally; returns the labels (level
    0, the image's spatial axes) as a lazy dask array of ``dtype`` backed by the output store.

    - ``image``: an OME-Zarr path or a 2-D (y, x) / 3-D (z, y, x) dask array.
    - ``fn``: tile (with ``overlap`` voxels of context on each side, clipped at the image border) ->
      integer labels of its shape (0 = background); any callable, or a plugin's (``cellpose_fn``),
      which runs as the workflow's method with the image's intensity range computed once. A tile one
      z-plane thick (``tile_shape=(1, Y, X)``) reaches ``fn`` as a 2-D plane (labels of either shape
      are taken). Must be picklable when a distributed client is active.
    - ``tile_shape``: a tuple; None: the image's chunks (a dask array's blocks); "auto": sized to this
      machine's memory (``use_gpu``: the GPU's; no GPU: a warning, then memory); or a callable
      ``(shape, dtype) -> tuple`` such as ``partial(auto_tile_shape_cellpose, diameter=30)``. Capped at
      the image. ``overlap``: one number (less where a tile is thinner) or one per axis; the halo is
      trimmed before merging, and labels touching across a tile border (``connectivity``) are one
      object (``stitch="iou"``: joined by their overlap in the halo instead).
    - ``channel``/``level``: of an OME-Zarr image (``channel=None``: one with no or one channel).
    - Output: by default into the input store as NGFF ``labels/<output_component>`` with as many levels
      as the image (``pyramid_levels``/``pyramid_downscale`` that differ from the image's are replaced
      by the image's, with a warning, as NGFF requires); with ``write_to`` (or for a dask array) a
      single-resolution array ``<write_to>/<output_component>``. An existing label image is replaced
      only with ``overwrite``. Ids are 1..N (``sequential_labels`` changes nothing); the run stops
      before writing if N does not fit ``dtype``.
    - ``skip_empty``: tiles whose maximum (with halo) is <= ``empty_threshold`` (None: Otsu of a bounded
      sample of the image) are not segmented; ``estimate_empty_tiles`` counts them first.
    - Jobs: on the active dask.distributed client if any (``make_local_cluster``; an in-process client
      is refused with the fix), else in threads (stage) and processes (merge), at most ``max_workers``
      (None: cores less one and what memory allows; ``use_gpu``: one tile at a time).
    - ``progress``: bars for staging, faces, the label write and the pyramid; ``verbose``: one log
      line per tile (location, shape). Intermediates go to ``stage_dir`` (default: next to
      ``write_to`` or the input, else a temp dir), removed unless ``keep_stage``.
    """
    client = _client()
    scratch = Path(tempfile.mkdtemp(prefix="patchworks-"))
    try:
        with _api_errors():
            image_path = None if isinstance(image, da.Array) else Path(image)
            if image_path is None:
                store_path = scratch / "image.ome.zarr"
                _image_to_ngff(image, store_path, progress, client, max_workers)
                write_to = write_to or _temp_labels()
            else:
                store_path = image_path
            info = read_image_info(store_path, level)
            into_input = write_to is None
            tiles = resolve.tile_shape(tile_shape, info, use_gpu, resolve.multiple_of(info, into_input))
            halo = resolve.overlap(overlap, tiles)
            method, tile_fn = _method(fn, tiles, use_gpu)
            config = {
                "input": {"store": str(store_path), "channel": _channel(channel, info), "level": level},
                "output": _output(write_to, output_component, dtype, overwrite),
                "tiling": {"tile_shape": list(tiles), "overlap": halo, "skip_empty": skip_empty,
                           "empty_threshold": "otsu" if empty_threshold is None else empty_threshold},
                "method": method,
                "stitch": {"mode": stitch},
                "connectivity": connectivity,
                "pyramid": _pyramid(info, into_input, pyramid_levels, pyramid_downscale),
            }
            base = write_to or image_path
            return _run(config, tile_fn, client=client, max_workers=max_workers, use_gpu=use_gpu,
                        progress=progress, verbose=verbose, stage_dir=stage_dir, keep_stage=keep_stage,
                        base=base)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def merge_tile_labels(
    labels: da.Array | str | Path,
    *,
    input_component: str | None = None,
    tile_shape: tuple[int, ...] | None = None,
    write_to: str | Path | None = None,
    output_component: str = "labels",
    sequential_labels: bool = False,
    progress: bool = True,
    connectivity: int = 1,
    dtype: str = "int32",
    max_workers: int | None = None,
    stage_dir: str | Path | None = None,
    keep_stage: bool = False,
    verbose: bool = False,
    overwrite: bool = False,
) -> da.Array:
    """Merge labels segmented tile by tile elsewhere into globally unique ids 1..N: labels touching
    across a tile border (``connectivity``) become one object; returns them as a lazy dask array of
    ``dtype``, backed by the single-resolution array ``<write_to>/<output_component>`` (default: a
    temp store).

    ``labels``: a 2-D/3-D dask array whose blocks are the tiles (computed once, block by block, on the
    active scheduler), or a zarr store (``input_component``: the array's path in it) whose chunks are
    the tiles. Ids need be unique within a tile only. ``tile_shape`` overrides the tiles (each must lie
    within one tile the labels were made in). The same steps as the workflow's ``method: staged``;
    other keywords as in ``tile_process``.
    """
    client = _client()
    scratch = Path(tempfile.mkdtemp(prefix="patchworks-"))
    try:
        with _api_errors():
            source = None
            if isinstance(labels, da.Array):
                blocks = regular(labels, "labels")
                target = zarr.create_array(str(scratch / "tiles.zarr"), shape=labels.shape,
                                           dtype=labels.dtype, chunks=blocks, fill_value=0)
                store(labels, target, progress=progress, desc="stage", workers=max_workers, client=client)
                staged = {"store": str(scratch / "tiles.zarr"), "component": None}
                shape, label_dtype, chunks = labels.shape, labels.dtype, blocks
            else:
                source = Path(labels)
                staged = {"store": str(source), "component": input_component}
                array = _open_labels(source, input_component)
                shape, label_dtype, chunks = array.shape, array.dtype, array.chunks
            tiles = tuple(tile_shape or chunks)
            image = scratch / "image.ome.zarr"
            ngff_group(image, tuple(shape), label_dtype, tuple(min(t, s) for t, s in zip(tiles, shape)))
            write_to = write_to or _temp_labels()
            config = {
                "input": {"store": str(image)},
                "output": _output(write_to, output_component, dtype, overwrite),
                "tiling": {"tile_shape": list(tiles), "overlap": [0] * len(tiles)},
                "method": {"name": "staged", "staged": staged},
                "connectivity": connectivity,
                "pyramid": {"levels": 1},
            }
            return _run(config, None, client=client, max_workers=max_workers, use_gpu=False,
                        progress=progress, verbose=verbose, stage_dir=stage_dir, keep_stage=keep_stage,
                        base=write_to)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# the pieces -------------------------------------------------------------------------------------


def _run(config: dict[str, Any], fn: Callable | None, *, client: Any, max_workers: int | None,
         use_gpu: bool, progress: bool, verbose: bool, stage_dir: str | Path | None, keep_stage: bool,
         base: str | Path | None) -> da.Array:
    """Run the workflow's steps for ``config``; the labels as a dask array."""
    if stage_dir is not None:
        workdir, own = Path(stage_dir), False
    else:
        parent = Path(base).absolute().parent if base else None
        if parent:
            parent.mkdir(parents=True, exist_ok=True)
        workdir, own = Path(tempfile.mkdtemp(prefix="patchworks-stage-", dir=parent)), True
    config["workdir"] = str(workdir)
    tiles, halo = config["tiling"]["tile_shape"], config["tiling"]["overlap"]
    method = method_of(config["method"])
    job_bytes = math.prod(t + 2 * h for t, h in zip(tiles, halo)) * method.voxel_bytes(8) + method.base_bytes
    workers = max_workers or worker_count(job_bytes)
    stage_workers = 1 if use_gpu or method.uses_gpu else workers
    try:
        with tile_logging(verbose, client):
            plan = local.run(config, workers, fn, stage_workers=stage_workers, client=client,
                             progress=progress)
    except BaseException:
        _release(config)
        raise
    finally:
        if not keep_stage:
            shutil.rmtree(workdir if own else workdir / config["output"]["label_name"], ignore_errors=True)
    if keep_stage:
        logger.warning("patchworks: kept the stage store and records under %s", plan.workdir)
    return _labels_array(plan)


def _release(config: dict[str, Any]) -> None:
    """After a failed run, drop the label image it reserved and left unfinished (its work directory
    is about to go), so that the next call may take the name; anything else stays."""
    try:
        label = Plan(validate_config(config)).label_image
        record = label.record()
    except Exception:  # the run failed before there was a label image to speak of
        return
    if record == {"workdir": str((Path(config["workdir"]) / label.name).resolve()), "complete": False}:
        shutil.rmtree(label.path, ignore_errors=True)


def _labels_array(plan: Plan) -> da.Array:
    return da.from_zarr(str(plan.label_image.level_path(0)))


def _image_to_ngff(image: da.Array, path: Path, progress: bool, client: Any, workers: int | None) -> None:
    """A dask array as a single-level NGFF image (its blocks, made regular, are the chunks)."""
    try:
        blocks = regular(image, "image")
    except ValueError:
        image = image.rechunk(image.chunksize)
        blocks = image.chunksize
    target = ngff_group(path, image.shape, image.dtype, blocks)
    store(image, target, progress=progress, desc="image", workers=workers, client=client)


def _temp_labels() -> Path:
    """A store for labels that outlive the call (the returned array reads them)."""
    return Path(tempfile.mkdtemp(prefix="patchworks-labels-")) / "labels.zarr"


def _open_labels(store_path: Path, component: str | None) -> zarr.Array:
    path = store_path / (component or "")
    try:
        return zarr.open_array(str(path), mode="r")
    except Exception as err:  # zarr raises several types for "no array here"
        raise InputError(f"labels: no zarr array at {path} ({type(err).__name__}); give the store and, in "
                         "input_component, the array's path inside it") from err


def _method(fn: Callable, tiles: tuple[int, ...], use_gpu: bool) -> tuple[dict[str, Any], Callable | None]:
    """The config's method and the tile function to pass: a plugin's method runs as configured."""
    if isinstance(fn, MethodFn):
        return fn.method, None
    if not callable(fn):
        raise TypeError(f"fn: {fn!r} is not callable; pass a function tile -> labels")
    if len(tiles) == 3 and tiles[0] == 1:
        fn = Planes(fn)
    return {"name": "custom", "custom": {"gpu": use_gpu}}, fn


def _channel(channel: int | None, info: ImageInfo) -> int:
    if channel is not None:
        return channel
    c = info.axis_index("c")
    if c is not None and info.shape[c] > 1:
        raise InputError(f"channel: None but the image has {info.shape[c]} channels along 'c'; "
                         "pass channel=<index> of the one to segment")
    return 0


def _output(write_to: str | Path | None, name: str, dtype: str, overwrite: bool) -> dict[str, Any]:
    if write_to is None:
        return {"store": None, "label_name": name, "dtype": dtype, "overwrite": overwrite}
    return {"store": str(write_to), "label_name": name, "dtype": dtype, "overwrite": overwrite,
            "layout": "array"}


def _pyramid(info: ImageInfo, into_input: bool, levels: int, downscale: int) -> dict[str, Any]:
    """Into the image, the label pyramid follows the image's (NGFF), with a warning where the
    arguments differ; a separate store holds one resolution."""
    if not into_input:
        return {"levels": 1}
    if levels != info.n_levels:
        warnings.warn(f"pyramid_levels={levels}: the image has {info.n_levels} resolution level(s), and NGFF "
                      f"needs labels in the image's store to have as many; writing {info.n_levels} (pass "
                      "write_to= for a separate single-resolution store)", stacklevel=3)
    factors = resolve.image_factors(info)
    if factors is not None and downscale != factors[-1]:
        warnings.warn(f"pyramid_downscale={downscale}: the image's levels shrink x by {factors[-1]}; the "
                      "labels follow the image", stacklevel=3)
    return {"levels": "auto", "downscale": "auto"}
