"""Reading OME-Zarr (NGFF 0.4 / zarr v2 and 0.5 / zarr v3) images and their metadata."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from ..errors import InputError
from . import chunked

SUPPORTED_VERSIONS = ("0.4", "0.5")


@dataclass(frozen=True)
class Axis:
    name: str
    type: str | None
    unit: str | None

    def as_dict(self) -> dict[str, str]:
        out = {"name": self.name}
        if self.type:
            out["type"] = self.type
        if self.unit:
            out["unit"] = self.unit
        return out


@dataclass(frozen=True)
class ImageInfo:
    """What the pipeline needs to know of one resolution level of an NGFF image."""

    store: str
    version: str
    zarr_format: int
    axes: tuple[Axis, ...]
    path: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: tuple[float, ...]
    translation: tuple[float, ...]
    level_shapes: tuple[tuple[int, ...], ...]  # every level's array shape

    @property
    def n_levels(self) -> int:
        return len(self.level_shapes)

    @property
    def spatial_axes(self) -> tuple[int, ...]:
        """Indices of the space axes (z/y/x), in array order."""
        return tuple(i for i, a in enumerate(self.axes) if _is_spatial(a))

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[i] for i in self.spatial_axes)

    @property
    def spatial_names(self) -> tuple[str, ...]:
        return tuple(self.axes[i].name for i in self.spatial_axes)

    def axis_index(self, name: str) -> int | None:
        return next((i for i, a in enumerate(self.axes) if a.name == name), None)


def _is_spatial(axis: Axis) -> bool:
    return axis.type == "space" or (axis.type is None and axis.name in ("z", "y", "x"))


def ome_attrs(attrs: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The NGFF part of a group's attributes and its version (0.5 nests it under ``ome``)."""
    if "ome" in attrs:
        return attrs["ome"], attrs["ome"].get("version")
    ms = attrs.get("multiscales")
    version = ms[0].get("version") if ms else attrs.get("image-label", {}).get("version")
    return attrs, version


def listed_labels(store: str | Path) -> list[Path]:
    """The label images listed in ``<store>/labels`` (NGFF), in their order."""
    group = Path(store) / "labels"
    if not group.exists():
        return []
    ngff, _ = ome_attrs(zarr.open_group(str(group), mode="r").attrs.asdict())
    return [group / name for name in ngff.get("labels", [])]


def open_group(store: str | Path, mode: str = "r") -> zarr.Group:
    """Open a zarr group, with an error naming the path when it is not one."""
    path = Path(store)
    if not path.exists():
        raise InputError(f"input.store: {store} does not exist; give the path of an OME-Zarr image")
    try:
        return zarr.open_group(str(path), mode=mode)
    except Exception as err:  # zarr raises several types for "not a group"
        raise InputError(
            f"input.store: {store} cannot be read as a zarr group ({type(err).__name__}: {err}); "
            "give the path of an OME-Zarr image (a folder holding .zattrs or zarr.json)"
        ) from err


def read_image_info(store: str | Path, level: int = 0) -> ImageInfo:
    """Read the multiscales metadata of an OME-Zarr image and describe resolution ``level``."""
    group = open_group(store)
    ngff, version = ome_attrs(group.attrs.asdict())
    multiscales = ngff.get("multiscales")
    if not multiscales:
        raise InputError(
            f"input.store: {store} is a zarr group but not an OME-Zarr image "
            "(no 'multiscales' metadata); convert it to OME-Zarr first"
        )
    if version not in SUPPORTED_VERSIONS:
        raise InputError(
            f"input.store: {store} has NGFF version {version!r}; supported: {SUPPORTED_VERSIONS}"
        )
    ms = multiscales[0]
    datasets = ms["datasets"]
    if not 0 <= level < len(datasets):
        raise InputError(
            f"input.level: {level} is out of range; {store} has levels 0..{len(datasets) - 1}"
        )
    axes = tuple(Axis(a["name"], a.get("type"), a.get("unit")) for a in ms["axes"])
    arrays = [_level_array(group, store, i, d["path"]) for i, d in enumerate(datasets)]
    array, dataset = arrays[level], datasets[level]
    empty = [a.name for a, n in zip(axes, array.shape) if n == 0]
    if empty:
        raise InputError(f"input.store: {store} level {level} ({dataset['path']!r}) has shape "
                         f"{tuple(array.shape)}: no voxels along {', '.join(map(repr, empty))}; the image is "
                         "empty, give an image that holds data")
    scale = [1.0] * len(axes)
    translation = [0.0] * len(axes)
    for transforms in (dataset.get("coordinateTransformations", []),
                       ms.get("coordinateTransformations", [])):
        for t in transforms:
            if t["type"] == "scale":
                scale = [a * b for a, b in zip(scale, t["scale"])]
            elif t["type"] == "translation":
                translation = [a + b for a, b in zip(translation, t["translation"])]
    return ImageInfo(
        store=str(store),
        version=version,
        zarr_format=group.metadata.zarr_format,
        axes=axes,
        path=dataset["path"],
        shape=tuple(array.shape),
        dtype=chunked.canonical(array.dtype),
        scale=tuple(scale),
        translation=tuple(translation),
        level_shapes=tuple(tuple(a.shape) for a in arrays),
    )


def _level_array(group: zarr.Group, store: str | Path, level: int, path: str) -> zarr.Array:
    """The array of one listed level, with an error naming the level and its path if it is missing."""
    try:
        return group[path]
    except (KeyError, OSError, ValueError) as err:
        raise InputError(f"input.store: {store} lists level {level} at {path!r} ({Path(store) / path}), "
                         f"which cannot be read ({type(err).__name__}: {err}); the image is incomplete or "
                         "damaged: write the missing level again, or remove it from the multiscales metadata"
                         ) from err


class ImageSource:
    """Reads spatial regions of one channel and timepoint of an NGFF image level."""

    def __init__(self, info: ImageInfo, channel: int = 0, timepoint: int = 0) -> None:
        self.info = info
        self.array = zarr.open_array(str(Path(info.store) / info.path), mode="r")
        self._fixed = fixed_indices(info, channel, timepoint)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.info.spatial_shape

    def selection(self, region: tuple[slice, ...], channel: int | None = None) -> tuple[Any, ...]:
        """The full-array selection of a spatial ``region`` (of another ``channel`` if given)."""
        fixed = dict(self._fixed)
        if channel is not None:
            fixed[self.info.axis_index("c")] = channel
        spatial = iter(region)
        return tuple(fixed[i] if i in fixed else next(spatial) for i in range(len(self.info.axes)))

    def read(self, region: tuple[slice, ...], channel: int | None = None) -> np.ndarray:
        return chunked.read(self.array, self.selection(region, channel))


def fixed_indices(info: ImageInfo, channel: int, timepoint: int) -> dict[int, int]:
    """Index of every non-spatial axis for the chosen channel and timepoint (checked)."""
    fixed: dict[int, int] = {}
    for name, value, key in (("c", channel, "input.channel"), ("t", timepoint, "input.timepoint")):
        idx = info.axis_index(name)
        if idx is None:
            if value != 0:
                raise InputError(f"{key}: {value} given but the image has no '{name}' axis; use 0")
            continue
        if not 0 <= value < info.shape[idx]:
            raise InputError(
                f"{key}: {value} is out of range; the image has {info.shape[idx]} "
                f"along '{name}' (0..{info.shape[idx] - 1})"
            )
        fixed[idx] = value
    for i, axis in enumerate(info.axes):
        if i not in fixed and i not in info.spatial_axes:
            if info.shape[i] != 1:
                raise InputError(f"input.store: axis '{axis.name}' has size {info.shape[i]}; "
                                 "only c and t may be larger than 1")
            fixed[i] = 0
    return fixed


def zarr_chunks(info: ImageInfo) -> tuple[int, ...] | None:
    """The storage chunk shape of the image level along its spatial axes (None if not on disk yet)."""
    path = Path(info.store) / info.path
    if not path.exists():
        return None
    chunks = zarr.open_array(str(path), mode="r").chunks
    return tuple(chunks[i] for i in info.spatial_axes)
