"""The output label image: its levels, chunking, NGFF metadata, and when it is listed."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from ..errors import ConfigError
from ..layout import OBJECTS_FILE
from ..tiling.grid import TileGrid, divisor_chunk
from . import chunked
from .ngff import ImageInfo, ome_attrs, read_image_info

OWNER_KEY = "patchworks"
CHUNK_CAP_INPLANE = 256
CHUNK_CAP_OTHER = 64
COLOR_LIMIT = 100_000  # image-label colours listed up to this many objects (about 5 MB of JSON)


@dataclass(frozen=True)
class LabelImage:
    """Where and how the label pyramid of one image is written."""

    root: str  # store that holds the labels group
    name: str
    image: ImageInfo
    grid: TileGrid
    levels: int
    factors: tuple[int, ...]  # per spatial axis, applied at each level
    dtype: str
    into_input: bool
    layout: str = "ngff"  # or "array": one single-resolution array <root>/<name>
    image_level: int = 0  # the image level that label level 0 is on (input.level)
    #: A timepoint of a time series (``input.timepoint: all``): (its index, the number of timepoints).
    #: The arrays then have a leading t axis, and this image's labels are its index along it.
    time: tuple[int, int] | None = None

    @property
    def path(self) -> Path:
        if self.layout == "array":
            return Path(self.root) / self.name
        return Path(self.root) / "labels" / self.name

    @property
    def table_path(self) -> Path:
        """The object table: inside the label group (NGFF), beside the array (layout array)."""
        if self.layout == "array":
            return self.path.with_name(f"{self.name}.{OBJECTS_FILE}")
        return self.path / OBJECTS_FILE

    # geometry -----------------------------------------------------------------------------
    def scale_of(self, level: int) -> tuple[int, ...]:
        return tuple(f**level for f in self.factors)

    def spatial_shape(self, level: int) -> tuple[int, ...]:
        """The spatial shape of ``level`` (no channel axis; a time series' arrays add t)."""
        return tuple(math.ceil(s / f) for s, f in zip(self.grid.shape, self.scale_of(level)))

    def _with_time(self, spatial: tuple[Any, ...], per_time: Any) -> tuple[Any, ...]:
        return ((per_time,) if self.time else ()) + tuple(spatial)

    def shape(self, level: int) -> tuple[int, ...]:
        """The array shape of ``level``: its spatial shape, after the t axis of a time series."""
        return self._with_time(self.spatial_shape(level), self.time[1] if self.time else None)

    def index(self, spatial: tuple[Any, ...]) -> tuple[Any, ...]:
        """The array index of a spatial selection of this image's labels (its timepoint's, in a series)."""
        return ((self.time[0],) if self.time else ()) + tuple(spatial)

    def write(self, level: int, tile: int, data: np.ndarray) -> None:
        """Write ``tile``'s share of ``level``."""
        chunked.write(self.array(level), self.index(self.tile_share(tile, level)), data)

    def read(self, level: int, tile: int) -> np.ndarray:
        """``tile``'s share of ``level`` as written."""
        return chunked.read(self.array(level, mode="r"), self.index(self.tile_share(tile, level)))

    def chunks(self, level: int) -> tuple[int, ...]:
        """Chunks that divide each tile's share of ``level``, so tiles never share a chunk."""
        spatial = []
        n = len(self.grid.shape)
        for ax, (t, f, size, count) in enumerate(zip(self.grid.tile_shape, self.scale_of(level),
                                                      self.spatial_shape(level), self.grid.counts)):
            cap = CHUNK_CAP_INPLANE if ax >= n - 2 else CHUNK_CAP_OTHER
            spatial.append(divisor_chunk(t // f, cap) if count > 1 else min(size, cap))
        return tuple(spatial)

    def spatial_shards(self, level: int) -> tuple[int, ...]:
        """One shard per tile's share of ``level``: a whole number of chunks, so each tile writes its
        own shard, whole, and a level has a few files per tile instead of one per chunk."""
        return tuple(c * math.ceil((t // f if count > 1 else size) / c) for t, f, size, count, c in zip(
            self.grid.tile_shape, self.scale_of(level), self.spatial_shape(level), self.grid.counts,
            self.chunks(level)))

    def shards(self, level: int) -> tuple[int, ...] | None:
        """The shard shape of ``level`` in zarr v3 (NGFF 0.5); zarr v2 has no shards."""
        return self.spatial_shards(level) if self.image.zarr_format == 3 else None

    def tile_share(self, tile: int, level: int) -> tuple[slice, ...]:
        """The region of ``level`` computed from ``tile``'s voxels alone (tiles are aligned)."""
        return tuple(
            slice(s.start // f, math.ceil(s.stop / f))
            for s, f in zip(self.grid.core(tile), self.scale_of(level))
        )

    def check_alignment(self) -> None:
        """Tiles must start on level boundaries so each tile computes its share of every level."""
        span = self.scale_of(self.levels - 1)
        names = self.image.spatial_names
        for name, t, f, count in zip(names, self.grid.tile_shape, span, self.grid.counts):
            if count > 1 and t % f:
                lo, hi = t // f * f, (t // f + 1) * f
                raise ConfigError(
                    f"tiling.tile_shape: {t} along '{name}' is not a multiple of {f} (pyramid.downscale ** "
                    f"(pyramid.levels - 1)), so tiles cannot each write their share of every pyramid level; "
                    f"use {max(lo, f)} or {hi} along '{name}', or {self._fewer_levels_hint()}")
        if min(self.spatial_shape(self.levels - 1)) < 1:
            raise ConfigError("pyramid.levels: too many levels for the image size")

    def _fewer_levels_hint(self) -> str:
        """What else a misaligned tile shape allows: fewer levels (a separate store only: labels in the
        image's store need all of the image's levels)."""
        aligned = 1
        while aligned < self.levels and all(
                count == 1 or t % (f ** aligned) == 0
                for t, f, count in zip(self.grid.tile_shape, self.factors, self.grid.counts)):
            aligned += 1
        if self.into_input:
            return (f"set output.store to write the labels to a separate store, where pyramid.levels: "
                    f"{aligned} fits these tiles (labels in the image's store need its {self.levels} levels)")
        return f"pyramid.levels: {aligned}"

    # arrays ------------------------------------------------------------------------------
    def level_path(self, level: int) -> Path:
        return self.path if self.layout == "array" else self.path / str(level)

    def array(self, level: int, mode: str = "r+") -> zarr.Array:
        return zarr.open_array(str(self.level_path(level)), mode=mode)

    def has_level(self, level: int) -> bool:
        """Whether ``level``'s array exists with this label image's shape and type."""
        try:
            array = self.array(level, mode="r")
        except Exception:
            return False
        return array.shape == self.shape(level) and array.dtype == np.dtype(self.dtype)

    def create_level(self, level: int) -> zarr.Array:
        """(Re)create the empty array of ``level`` (the array layout keeps the array's attributes). A time
        series' level, once made, is kept: it holds the labels of its other timepoints."""
        if self.time and self.has_level(level):
            return self.array(level)
        kwargs: dict[str, Any] = {}
        if self.image.zarr_format == 3:
            kwargs["dimension_names"] = list(self._with_time(self.image.spatial_names, "t"))
        if self.layout == "array" and self.path.exists():
            kwargs["attributes"] = self.array(0, mode="r").attrs.asdict()
        shards = self.shards(level)
        return zarr.create_array(
            str(self.level_path(level)),
            shape=self.shape(level),
            chunks=self._with_time(self.chunks(level), 1),
            shards=None if shards is None else self._with_time(shards, 1),
            dtype=self.dtype,
            fill_value=0,
            zarr_format=self.image.zarr_format,
            overwrite=True,
            **kwargs,
        )

    def remove_levels_from(self, level: int) -> None:
        """Delete arrays of ``level`` and deeper (left over from a run with more levels)."""
        if self.layout == "ngff" and self.path.exists():
            for child in self.path.iterdir():
                if child.is_dir() and child.name.isdigit() and int(child.name) >= level:
                    shutil.rmtree(child)

    # metadata ------------------------------------------------------------------------------
    def _versioned(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.image.version == "0.5":
            return {"ome": {"version": "0.5", **attrs}}
        return attrs

    def level_transform(self, level: int) -> tuple[list[float], list[float]]:
        """Scale and translation of ``level`` along the spatial axes: those of the image's level of the
        same shape, so labels lie on the image at every level; a level the image lacks (other factors,
        more levels) gets block downsampling's: scale times the factor, voxel centres shifted by
        (factor - 1) / 2."""
        spatial = self.image.spatial_axes
        index = self.image_level + level
        if index < self.image.n_levels and \
                tuple(self.image.level_shapes[index][i] for i in spatial) == self.spatial_shape(level):
            info = self.image if level == 0 else read_image_info(self.image.store, index)
            return [info.scale[i] for i in spatial], [info.translation[i] for i in spatial]
        scale, translation = [], []
        for i, f in zip(spatial, self.scale_of(level)):
            s = self.image.scale[i]
            scale.append(s * f)
            translation.append(self.image.translation[i] + (f - 1) * s / 2)
        return scale, translation

    def multiscales(self) -> dict[str, Any]:
        datasets = []
        t = self.image.axis_index("t")
        for level in range(self.levels):
            scale, translation = self.level_transform(level)
            if self.time:  # the image's time step and origin
                scale = [self.image.scale[t] if t is not None else 1.0, *scale]
                translation = [self.image.translation[t] if t is not None else 0.0, *translation]
            transforms: list[dict[str, Any]] = [{"type": "scale", "scale": scale}]
            if any(translation):
                transforms.append({"type": "translation", "translation": translation})
            datasets.append({"path": str(level), "coordinateTransformations": transforms})
        ms: dict[str, Any] = {
            "name": self.name,
            "axes": ([self.image.axes[t].as_dict() if t is not None else {"name": "t", "type": "time"}]
                     if self.time else []) + [self.image.axes[i].as_dict() for i in self.image.spatial_axes],
            "datasets": datasets,
        }
        if self.image.version == "0.4":
            ms["version"] = "0.4"
        return ms

    def image_label(self, n_objects: int) -> dict[str, Any]:
        """NGFF ``image-label``: its version, the source image, and a colour for every label (0:
        transparent) while there are at most COLOR_LIMIT objects (the list lives in the group's JSON)."""
        meta: dict[str, Any] = {"version": self.image.version}
        if n_objects <= COLOR_LIMIT:
            meta["colors"] = label_colors(n_objects)
        if self.into_input:
            meta["source"] = {"image": "../../"}
        return meta

    def owner(self) -> str | None:
        """The work directory recorded by the run that wrote this label image, if any."""
        return self.record().get("workdir")

    def record(self) -> dict[str, Any]:
        """Our record in the label group's attributes ({} if not written by patchworks)."""
        try:
            attrs = zarr.open(str(self.path), mode="r").attrs.asdict()
        except Exception:
            return {}
        return attrs.get(OWNER_KEY, {})

    def reserve(self, workdir: str) -> None:
        """Take the name for this work directory before any tile is segmented, so that another run
        wanting it stops at parse time; an existing label image stays as it is until ``claim``."""
        if not self.path.exists():
            self.claim(workdir, overwrite=False)

    def claim(self, workdir: str, overwrite: bool) -> None:
        """Make the label group ours, unlisted and without multiscales (i.e. not complete).

        An existing label image written by another run is kept unless ``overwrite``.
        """
        workdir = str(Path(workdir).resolve())
        if self.path.exists() and self.owner() != workdir:
            if not overwrite:
                raise ConfigError(overwrite_message(self))
            shutil.rmtree(self.path)
        self.table_path.unlink(missing_ok=True)  # a table describes complete labels only
        zarr.open_group(self.root, mode="a", zarr_format=self.image.zarr_format)
        if self.layout == "array":  # no group to hold the owner: the array itself does
            target = self.array(0) if self.path.exists() else self.create_level(0)
            target.attrs.put({OWNER_KEY: {"workdir": workdir, "complete": False}})
            return
        self._set_listed(False)
        zarr.open_group(str(self.path), mode="a", zarr_format=self.image.zarr_format).attrs.put(
            {OWNER_KEY: {"workdir": workdir, "complete": False}}
        )

    def publish(self, workdir: str, n_objects: int) -> None:
        """Write the NGFF metadata and list the label image: it is complete."""
        record = {"workdir": str(Path(workdir).resolve()), "complete": True, "objects": n_objects}
        if self.layout == "array":
            self.array(0).attrs.put({OWNER_KEY: record})
            return
        attrs = self._versioned({"multiscales": [self.multiscales()],
                                 "image-label": self.image_label(n_objects)})
        attrs[OWNER_KEY] = record
        zarr.open_group(str(self.path), mode="a").attrs.put(attrs)
        self._set_listed(True)

    def _set_listed(self, listed: bool) -> None:
        """Add this label image to (or drop it from) the ``labels`` list; every other attribute of the
        group, ours or another tool's, is kept."""
        group = zarr.open_group(str(Path(self.root) / "labels"), mode="a", zarr_format=self.image.zarr_format)
        attrs = group.attrs.asdict()
        ngff, _ = ome_attrs(attrs)
        names = [n for n in ngff.get("labels", []) if n != self.name] + ([self.name] if listed else [])
        if self.image.version == "0.5":
            attrs["ome"] = {**attrs.get("ome", {}), "version": "0.5", "labels": names}
        else:
            attrs["labels"] = names
        group.attrs.put(attrs)


def overwrite_message(label: LabelImage) -> str:
    record = label.record()
    if not record:
        origin = "was not written by patchworks"
    else:
        state = "complete" if record.get("complete") else "not finished: that run may still be going"
        origin = f"belongs to the run with work directory {record.get('workdir')} ({state})"
    return (
        f"output.label_name: a label image '{label.name}' already exists at {label.path} and {origin}, "
        "not to this work directory; set output.overwrite: true to replace it, or choose another "
        "output.label_name"
    )


def check_dtype_fits(n_objects: int, dtype: str) -> None:
    """A ConfigError naming the smallest dtype that fits unless ``dtype`` holds ids up to ``n_objects``."""
    info = np.iinfo(np.dtype(dtype))
    if n_objects > info.max:
        kind = np.dtype(dtype).kind
        fits = next(d for d in (f"int{b}" if kind == "i" else f"uint{b}" for b in (8, 16, 32, 64))
                    if np.iinfo(d).max >= n_objects)
        raise ConfigError(
            f"output.dtype: {dtype} holds ids up to {info.max} but the image has {n_objects} "
            f"objects; set output.dtype to {fits} or wider"
        )


def label_colors(n_objects: int) -> list[dict[str, Any]]:
    """NGFF ``colors`` for labels 0..n: 0 transparent, the others bright, their hues spread by the golden
    ratio so that neighbouring ids differ."""
    ids = np.arange(1, n_objects + 1)
    hue = (ids * 0.618033988749895) % 1.0
    value = np.where(ids % 2, 1.0, 0.8)
    sector, frac = np.divmod(hue * 6, 1)  # HSV -> RGB with saturation 0.75
    p, q, t = value * 0.25, value * (1 - 0.75 * frac), value * (1 - 0.75 * (1 - frac))
    rgb = np.select([sector[:, None] == k for k in range(6)],
                    [np.stack(c, axis=1) for c in ((value, t, p), (q, value, p), (p, value, t),
                                                   (p, q, value), (t, p, value), (value, p, q))])
    rgba = np.concatenate([np.round(rgb * 255).astype(int), np.full((n_objects, 1), 255)], axis=1)
    return [{"label-value": 0, "rgba": [0, 0, 0, 0]}] + [
        {"label-value": int(i), "rgba": c} for i, c in zip(ids, rgba.tolist())]
