"""The OME-Zarr a file converts to: its axes, levels (y/x halved, z kept), chunks and NGFF metadata."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..io.ngff import Axis, ImageInfo
from ..tiling.grid import TileGrid, divisor_chunk
from .source import AXES, Header

MAX_LEVELS = 12
TOP_SIDE = 256  # "auto" levels: halve y/x until the larger side is at most this
CHUNK_CAP_INPLANE = 256
CHUNK_CAP_Z = 64
READ_BUDGET = 256 * 2**20  # bytes of source pixels a conversion job reads at once (at least one plane)
VERSION = "0.5"


@dataclass(frozen=True)
class Layout:
    """Axes ``t`` (only when the file has several timepoints), ``c``, ``z`` (only for a stack), ``y``,
    ``x``; level k has y and x ``ceil(size / 2**k)``, every other axis as level 0."""

    header: Header
    levels: int

    @property
    def axes(self) -> str:
        t, _, z, _, _ = self.header.shape
        return "".join(a for a, keep in zip(AXES, (t > 1, True, z > 1, True, True)) if keep)

    @property
    def spatial(self) -> tuple[int, ...]:
        """Indices of the spatial axes in the store's axes."""
        return tuple(i for i, a in enumerate(self.axes) if a in "zyx")

    def shape(self, level: int) -> tuple[int, ...]:
        full = dict(zip(AXES, self.header.shape))
        return tuple(math.ceil(full[a] / 2**level) if a in "yx" else full[a] for a in self.axes)

    def spatial_shape(self, level: int = 0) -> tuple[int, ...]:
        return tuple(self.shape(level)[i] for i in self.spatial)

    def chunks(self, level: int, grid: TileGrid) -> tuple[int, ...]:
        """Chunks that divide each tile's share of ``level`` (so no two tiles, and no two conversion
        jobs, write one chunk); z chunks also hold at most READ_BUDGET of planes."""
        plane = math.prod(self.spatial_shape(level)[-2:]) * self.header.dtype.itemsize
        out = []
        for a, n in zip(self.axes, self.shape(level)):
            if a not in "zyx":
                out.append(1)
                continue
            ax = "zyx"[-len(self.spatial):].index(a)
            f = 2**level if a in "yx" else 1
            cap = CHUNK_CAP_INPLANE if a in "yx" else max(1, min(CHUNK_CAP_Z, READ_BUDGET // plane))
            tile = max(1, grid.tile_shape[ax] // f)
            out.append(divisor_chunk(tile, cap) if grid.counts[ax] > 1 else min(n, cap))
        return tuple(out)

    def scale(self, level: int) -> tuple[float, ...]:
        size = dict(zip("zyx", self.header.voxel_size))
        return tuple(float((size[a] or 1.0) * (2**level if a in "yx" else 1)) if a in "zyx" else 1.0
                     for a in self.axes)

    def translation(self, level: int) -> tuple[float, ...]:
        """Pixel centres of level k over those of level 0 (as the label pyramid does)."""
        size = dict(zip("zyx", self.header.voxel_size))
        return tuple((2**level - 1) * (size[a] or 1.0) / 2 if a in "yx" else 0.0 for a in self.axes)

    def ngff_axes(self) -> tuple[Axis, ...]:
        unit = dict(zip("zyx", self.header.units))
        kinds = {"t": "time", "c": "channel"}
        return tuple(Axis(a, kinds.get(a, "space"), unit.get(a)) for a in self.axes)

    def image_info(self, store: str, level: int) -> ImageInfo:
        """The ImageInfo of ``level`` that :func:`read_image_info` will read once it is written."""
        if not 0 <= level < self.levels:
            raise ConfigError(f"input.level: {level} is out of range; the converted image has levels "
                              f"0..{self.levels - 1} (convert.levels)")
        return ImageInfo(
            store=str(store), version=VERSION, zarr_format=3, axes=self.ngff_axes(), path=str(level),
            shape=self.shape(level), dtype=np.dtype(self.header.dtype), scale=self.scale(level),
            translation=self.translation(level),
            level_shapes=tuple(self.shape(k) for k in range(self.levels)),
        )

    def multiscales(self, name: str) -> dict[str, Any]:
        datasets = []
        for k in range(self.levels):
            transforms: list[dict[str, Any]] = [{"type": "scale", "scale": list(self.scale(k))}]
            if any(self.translation(k)):
                transforms.append({"type": "translation", "translation": list(self.translation(k))})
            datasets.append({"path": str(k), "coordinateTransformations": transforms})
        return {"name": name, "axes": [a.as_dict() for a in self.ngff_axes()], "datasets": datasets}

    def omero(self) -> dict[str, Any]:
        """Channel names (NGFF's transitional ``omero`` block), with the dtype's range as window."""
        dtype = np.dtype(self.header.dtype)
        info = np.iinfo(dtype) if dtype.kind in "ui" else np.finfo(dtype)
        low, high = float(info.min), float(info.max)
        return {"channels": [{"label": name, "color": "FFFFFF", "active": True,
                              "window": {"min": low, "max": high, "start": low, "end": high}}
                             for name in self.header.channel_names]}


def choose_levels(setting: int | str, spatial_shape: tuple[int, ...], tile: tuple[int, ...] | None) -> int:
    """``convert.levels``: a number (checked against the image), or "auto": halve y/x until the larger
    side is <= TOP_SIDE, and while the tiles (when given) stay whole multiples of each level."""
    y, x = spatial_shape[-2:]
    if setting != "auto":
        if 2 ** (int(setting) - 1) > min(y, x):
            raise ConfigError(f"convert.levels: {setting} is too many for an image of {y} x {x} (y, x); "
                              f"use at most {int(math.log2(min(y, x))) + 1}, or 'auto'")
        return int(setting)
    levels = 1
    while levels < MAX_LEVELS and max(math.ceil(n / 2 ** (levels - 1)) for n in (y, x)) > TOP_SIDE:
        f = 2**levels
        if tile is not None and any(t % f and t < s for t, s in zip(tile[-2:], (y, x))):
            break
        levels += 1
    return levels
