"""``staged``: labels already segmented tile by tile (by your own pipeline), merged without segmenting.

The stage step reads each tile from that array instead of the image, renumbers it 1..n like any
method's result, and the faces / cc / relabel steps merge labels that touch across tile borders.
Our tiles must lie each within one of the tiles the labels were made in (the same tiles, or tiles
that divide them): ids need to be unique within a tile only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

from ..errors import ConfigError
from ..io.ngff import ImageInfo, ImageSource
from . import Context, Method

if TYPE_CHECKING:
    from ..pipeline.plan import Plan


def labels(tile: np.ndarray) -> np.ndarray:
    """The staged labels are the result: the tile as read."""
    return tile


def array_path(cfg: dict[str, Any]) -> Path:
    return Path(cfg["store"]) / (cfg["component"] or "")


def source(cfg: dict[str, Any], image: ImageInfo) -> ImageSource:
    """Reads tiles of the staged labels, on the image's spatial grid."""
    array = zarr.open_array(str(array_path(cfg)), mode="r")
    if array.ndim == len(image.axes):
        axes, scale, translation = image.axes, image.scale, image.translation
    else:
        spatial = image.spatial_axes
        axes = tuple(image.axes[i] for i in spatial)
        scale = tuple(image.scale[i] for i in spatial)
        translation = tuple(image.translation[i] for i in spatial)
    info = dataclasses.replace(image, store=str(cfg["store"]), path=cfg["component"] or "", axes=axes,
                               shape=tuple(array.shape), dtype=np.dtype(array.dtype), scale=scale,
                               translation=translation, level_shapes=(tuple(array.shape),))
    return ImageSource(info, 0, 0)


def check(config: dict[str, Any], image: ImageInfo, output: Path) -> None:
    """ConfigError unless ``method.staged`` names an integer array of the image's spatial shape, other
    than the ``output`` labels."""
    cfg = config["method"]["staged"]
    if not cfg["store"]:
        raise ConfigError("method.staged.store: required when method.name is 'staged'; give the zarr store "
                          "that holds your per-tile labels (and method.staged.component, the array in it)")
    path = array_path(cfg)
    try:
        array = zarr.open_array(str(path), mode="r")
    except Exception as err:  # zarr raises several types for "no array here"
        raise ConfigError(f"method.staged: no zarr array at {path} ({type(err).__name__}); give the store "
                          "in method.staged.store and the array's path inside it in method.staged.component"
                          ) from err
    if not np.issubdtype(array.dtype, np.integer):
        raise ConfigError(f"method.staged: {path} holds {array.dtype}, not integer labels")
    spatial = image.spatial_shape
    full_ok = array.ndim == len(image.shape) and all(
        (s == n) if i in image.spatial_axes else s == 1
        for i, (s, n) in enumerate(zip(array.shape, image.shape)))
    if tuple(array.shape) != spatial and not full_ok:
        raise ConfigError(f"method.staged: {path} has shape {tuple(array.shape)} but the image's spatial "
                          f"shape is {spatial}; the labels must cover the image voxel for voxel")
    if path.resolve() == output.resolve():
        raise ConfigError(f"method.staged: {path} is also the output label image; write the merged labels "
                          "elsewhere (output.store, output.label_name)")
    if config["tiling"]["skip_empty"]:
        raise ConfigError("tiling.skip_empty: not used with method staged (the labels are given); "
                          "set it to false")


class StagedMethod(Method):
    """``method.staged``: the tiles are read from the given labels; measured over the image."""

    @property
    def segments_image(self) -> bool:
        return False

    def tile_source(self, image: ImageInfo) -> ImageSource | None:
        return source(self.section, image)

    def check(self, plan: Plan, import_code: bool = True) -> None:
        check(plan.config, plan.image, plan.label_image.path)

    def build(self, context: Context) -> Any:
        return labels


METHOD = StagedMethod
