"""An OME-Zarr image and its labels in napari (extra ``napari``; napari is imported only when called)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dask.array as da
import zarr

from ..io.ngff import ImageInfo, listed_labels, ome_attrs, read_image_info


def _levels(store: str | Path) -> list[ImageInfo]:
    first = read_image_info(store, 0)
    return [first] + [read_image_info(store, i) for i in range(1, first.n_levels)]


def _without(values: Sequence[Any], index: int | None) -> list[Any]:
    return [v for i, v in enumerate(values) if i != index]


def channel_names(store: str | Path, image: ImageInfo) -> list[str] | None:
    """The channels' names (NGFF ``omero`` labels), one per channel, or None."""
    c = image.axis_index("c")
    ngff, _ = ome_attrs(zarr.open_group(str(store), mode="r").attrs.asdict())
    names = [ch.get("label") for ch in ngff.get("omero", {}).get("channels", [])]
    return names if c is not None and len(names) == image.shape[c] and all(names) else None


def _label_layer(path: Path, image: ImageInfo) -> tuple[Any, dict[str, Any]]:
    """A label image (an NGFF label group, or one plain array on the image's spatial grid) as napari
    data (all levels) and layer options, on the image's spatial axes."""
    node = zarr.open(str(path), mode="r")
    spatial = image.spatial_axes
    if isinstance(node, zarr.Array):  # a single array, e.g. tile_process's write_to
        if tuple(node.shape) != image.spatial_shape:
            raise ValueError(f"labels: {path} has shape {node.shape}, not the image's spatial shape "
                             f"{image.spatial_shape}")
        scale = [image.scale[i] for i in spatial]
        translate = [image.translation[i] for i in spatial]
        return da.from_zarr(node), {"scale": scale, "translate": translate, "multiscale": False}
    levels = _levels(path)
    keep = _non_spatial(levels[0])  # labels of other writers may keep a channel axis of size 1
    data = [da.from_zarr(str(path / info.path))[keep] for info in levels]
    first = levels[0]
    options = {"scale": [first.scale[i] for i in first.spatial_axes],
               "translate": [first.translation[i] for i in first.spatial_axes], "multiscale": len(data) > 1}
    return (data if len(data) > 1 else data[0]), options


def _non_spatial(info: ImageInfo) -> tuple[Any, ...]:
    """The selection dropping every non-spatial axis (index 0 of each)."""
    return tuple(slice(None) if i in info.spatial_axes else 0 for i in range(len(info.axes)))


def view_in_napari(store: str | Path, labels: str | Path | Sequence[str | Path] | None = None, *,
                   viewer: Any = None, show: bool = True) -> Any:
    """Open the OME-Zarr image at ``store`` (every level, lazily, in its physical units; one layer per
    channel, named as the image names its channels) and its labels in napari; returns the viewer.

    ``labels``: the path of a label image (an NGFF label group such as ``<store>/labels/labels``, or a
    single array written with ``tile_process(write_to=...)``), or several; None opens those listed in
    ``<store>/labels``. Labels are shown (napari-ome-zarr hides them by default) on the image's
    axes. ``viewer``: add to this viewer; ``show=False`` creates it hidden. Outside IPython a shown
    viewer blocks until its window is closed (``napari.run()``).
    """
    import napari

    levels = _levels(store)
    first = levels[0]
    c = first.axis_index("c")
    data = [da.from_zarr(str(Path(store) / info.path)) for info in levels]
    viewer = viewer or napari.Viewer(show=show)
    viewer.add_image(data if len(data) > 1 else data[0], multiscale=len(data) > 1, channel_axis=c,
                     scale=_without(first.scale, c), translate=_without(first.translation, c),
                     name=Path(store).name if c is None else channel_names(store, first))
    viewer.dims.axis_labels = [a.name for a in _without(first.axes, c)]
    paths = listed_labels(store) if labels is None else \
        [labels] if isinstance(labels, str | Path) else list(labels)
    for path in paths:
        layer_data, options = _label_layer(Path(path), first)
        viewer.add_labels(layer_data, name=Path(path).name, visible=True, **options)
    if show and not _in_ipython():
        napari.run()
    return viewer


def _in_ipython() -> bool:
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    return get_ipython() is not None
