"""The run plan: the validated config and the input's metadata -> the image, the method, the tile grid
and the label pyramid (no image data is read). Its files are in ``layout``, its checks in
``checks``, its rules' rerun parameters in ``rerun_params``.

Built at Snakefile parse time and again inside each job.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ..convert.conversion import Conversion
from ..convert.source import is_microscope_file
from ..errors import ConfigError
from ..io import atomic
from ..io.labels import LabelImage
from ..io.ngff import ImageInfo, ImageSource, read_image_info
from ..layout import Layout
from ..measure.objects import Geometry
from ..methods import Method, method_of
from ..tiling import resolve
from ..tiling.grid import TileGrid
from ..tiling.sizing import auto_overlap
from . import demo


def per_axis(value: int | list[int], ndim: int, key: str) -> tuple[int, ...]:
    """A scalar applies to every spatial axis; a list must have one entry per spatial axis."""
    values = [value] * ndim if isinstance(value, int) else list(value)
    if len(values) != ndim:
        raise ConfigError(f"{key}: {value} has {len(values)} entries but the image has {ndim} "
                          "spatial axes; give one value per spatial axis or a single number")
    return tuple(int(v) for v in values)


@dataclass
class Plan:
    config: dict[str, Any]
    auto_tile_shape: tuple[int, ...] | None = None  # tile_shape "auto" as resolved on the submit host

    # inputs -------------------------------------------------------------------------------
    @cached_property
    def method(self) -> Method:
        return method_of(self.config["method"])

    @cached_property
    def image(self) -> ImageInfo:
        inp = self.config["input"]
        if inp["demo"] and not Path(inp["store"]).exists():
            return demo.expected_info(inp["store"], self.config["input"]["level"])
        if self.conversion:
            return self.conversion.image_info(inp["level"])
        return read_image_info(inp["store"], inp["level"])

    @cached_property
    def conversion(self) -> Conversion | None:
        """How a microscope file given as input.store becomes an OME-Zarr (None for an OME-Zarr)."""
        is_file = is_microscope_file(self.config["input"]["store"])
        return Conversion.from_config(self.config) if is_file else None

    @property
    def store(self) -> str:
        """The OME-Zarr image segmented: input.store, or the store a microscope file converts to."""
        return self.conversion.store if self.conversion else self.config["input"]["store"]

    def source(self) -> ImageSource:
        return ImageSource(self.image, self.config["input"]["channel"], self.config["input"]["timepoint"])

    def tile_source(self) -> ImageSource:
        """What the stage step segments: the image, or where the method reads its tiles (staged: labels)."""
        return self.method.tile_source(self.image) or self.source()

    @cached_property
    def grid(self) -> TileGrid:
        shape = self.image.spatial_shape
        names = self.image.spatial_names
        tiling = self.config["tiling"]
        if tiling["tile_shape"] == "auto":
            tile = self.resolve_auto_tile_shape()
        else:
            tile = per_axis(tiling["tile_shape"], len(shape), "tiling.tile_shape")
        if isinstance(tiling["tile_shape"], int):  # one number: at most the image, per axis
            tile = tuple(min(t, s) for t, s in zip(tile, shape))
        if tiling["overlap"] == "auto":
            overlap = auto_overlap(self.object_diameter(), self.voxel_size, tile)
        else:
            overlap = per_axis(tiling["overlap"], len(shape), "tiling.overlap")
        if isinstance(tiling["overlap"], int):  # one number: less than the tile, per axis
            overlap = tuple(min(o, t - 1) for o, t in zip(overlap, tile))
        for t, o, s, name in zip(tile, overlap, shape, names):
            if t < 1:
                raise ConfigError(f"tiling.tile_shape: {t} along '{name}' must be >= 1")
            if t > s:
                raise ConfigError(f"tiling.tile_shape: {t} along '{name}' is larger than the image "
                                  f"({s}); use at most {s}")
            if not 0 <= o < t:
                raise ConfigError(f"tiling.overlap: {o} along '{name}' must be >= 0 and smaller "
                                  f"than the tile ({t})")
        needed = self.method.min_overlap()
        cut = [o for o, t, s in zip(overlap, tile, shape) if t < s]  # an axis in one tile needs no halo
        if needed and cut and min(cut) < needed[0]:
            raise ConfigError(f"tiling.overlap: {min(cut)} is smaller than the reach of {needed[1]} "
                              f"({needed[0]} voxels); raise the overlap so tiles match the whole image")
        return TileGrid(shape, tile, overlap)

    @property
    def voxel_size(self) -> tuple[float, ...]:
        return tuple(self.image.scale[i] for i in self.image.spatial_axes)

    @property
    def geometry(self) -> Geometry:
        """The spatial calibration of the segmented level: object volumes and centroids in its units."""
        spatial = self.image.spatial_axes
        units = {self.image.axes[i].unit for i in spatial}
        translation = tuple(self.image.translation[i] for i in spatial)
        return Geometry(self.image.spatial_names, self.voxel_size, translation,
                        units.pop() if len(units) == 1 else None)

    def object_diameter(self) -> float:
        """The object diameter for overlap auto, in physical units."""
        diameter = self.config["tiling"]["object_diameter"]
        if diameter is None:
            diameter = self.method.object_diameter(self.voxel_size)
        if diameter is None:
            raise ConfigError("tiling.overlap: auto needs tiling.object_diameter (the objects' typical "
                              "diameter in the image's units), or method.cellpose.diameter; or give "
                              "the overlap in voxels")
        return float(diameter)

    def resolve_auto_tile_shape(self) -> tuple[int, ...]:
        """tile_shape "auto": fixed once, on the submit host, then read back from prepare.json, so that
        every job (on whatever node) uses the same tiles."""
        if self.auto_tile_shape is not None:
            return self.auto_tile_shape
        for record in (Path(self.paths.prepare), Path(self.paths.convert_init)):
            if record.exists():
                return tuple(atomic.read_json(record)["tile_shape"])
        tiling, into_input = self.config["tiling"], self.config["output"]["store"] is None
        budget_mb = tiling["gpu_memory_mb"] if self.method.uses_gpu else tiling["memory_mb"]
        return resolve.method_tile_shape(self.image, self.method, budget_mb, into_input)

    @property
    def connectivity(self) -> int:
        c, ndim = self.config["connectivity"], len(self.image.spatial_shape)
        if not 1 <= c <= ndim:
            raise ConfigError(f"connectivity: {c} is out of range for a {ndim}-D image; use 1..{ndim}")
        return c

    @cached_property
    def label_image(self) -> LabelImage:
        out = self.config["output"]
        into_input = out["store"] is None
        levels, factors = self._pyramid_shape(into_input)
        series = self.config.get("series")
        label = LabelImage(
            root=str(out["store"] or self.store), name=out["label_name"],
            image=self.image, grid=self.grid, levels=levels, factors=factors, dtype=out["dtype"],
            into_input=into_input, layout=out["layout"], image_level=self.config["input"]["level"],
            time=(series["t"], series["count"]) if series else None,
        )
        if series and out["layout"] == "array":
            raise ConfigError("input.timepoint: all writes an NGFF label image with a t axis; use "
                              "output.layout: ngff")
        label.check_alignment()
        return label

    def _pyramid_shape(self, into_input: bool) -> tuple[int, tuple[int, ...]]:
        """Levels and per-axis factors of the label pyramid ("auto": those of the image).

        NGFF requires a label image in the image's store to have as many levels as the image.
        """
        pyr, level, image = self.config["pyramid"], self.config["input"]["level"], self.image
        if self.config["output"]["layout"] == "array":
            if into_input:
                raise ConfigError("output.layout: array writes one plain array, which cannot go into the "
                                  "image's store; set output.store, or use layout ngff")
            if pyr["levels"] not in ("auto", 1):
                raise ConfigError(f"pyramid.levels: {pyr['levels']} but output.layout array holds one "
                                  "resolution; use 1 or auto, or layout ngff")
            return 1, (1,) * len(image.spatial_axes)
        if into_input and level > 0:
            raise ConfigError(
                f"input.level: {level} cannot be written into the input store: NGFF labels there "
                "need every level of the image, down from level 0; segment level 0, or set "
                "output.store to write the labels to a separate store")
        available = image.n_levels - level
        levels = available if pyr["levels"] == "auto" else pyr["levels"]
        if into_input and levels != image.n_levels:
            raise ConfigError(
                f"pyramid.levels: {levels} differs from the {image.n_levels} levels of the image; "
                "NGFF labels in the image's store need the same number; use 'auto', or set "
                "output.store to write the labels to a separate store")
        spatial = image.spatial_axes
        if pyr["downscale"] == "auto" and available > 1:
            here, below = image.level_shapes[level], image.level_shapes[level + 1]
            factors = tuple(max(1, round(here[i] / below[i])) for i in spatial)
        else:
            f = 2 if pyr["downscale"] == "auto" else pyr["downscale"]
            keep_z = not pyr["downscale_z"]
            factors = tuple(1 if (name == "z" and keep_z) else f for name in image.spatial_names)
        return levels, factors

    @property
    def needs_threshold_job(self) -> bool:
        tiling = self.config["tiling"]
        return self.method.needs_threshold or (tiling["skip_empty"] and tiling["empty_threshold"] == "otsu")

    @property
    def needs_normalization_job(self) -> bool:
        """Model methods scale every tile by the image's intensity percentiles, computed once."""
        return self.method.needs_intensity_range

    @property
    def model_to_fetch(self) -> str | None:
        """A model named by the method: its weights are fetched on the submit host first."""
        return self.method.model_to_fetch

    @property
    def stitch(self) -> str:
        """``touch`` or ``iou`` (``auto``: iou for the model methods)."""
        mode = self.config["stitch"]["mode"]
        if mode == "auto":
            return "iou" if self.method.model else "touch"
        return mode

    @property
    def faces_read_two_tiles(self) -> bool:
        """Whether a face job reads only the face's two tiles: not for touch stitching at connectivity
        > 1, whose widened plane reaches into more neighbours."""
        return not (self.stitch == "touch" and self.config["connectivity"] > 1)

    def face_tiles(self, tile: int, axis: int) -> list[int]:
        """Tiles whose staged labels the job of face ``(tile, axis)`` reads."""
        if self.faces_read_two_tiles:
            return [tile, self.grid.neighbour(tile, axis)]
        return self.grid.face_tiles(tile, axis)

    @property
    def keeps_bands(self) -> bool:
        """Stage jobs keep their prediction in the overlap band: for iou stitching, and always for
        the model methods, so that switching stitch.mode reruns only the merge."""
        return self.stitch == "iou" or self.method.model

    @property
    def needs_occupancy_job(self) -> bool:
        """Empty tiles of a GPU method are found on a CPU first, so they never hold a GPU."""
        return self.config["tiling"]["skip_empty"] and self.method.uses_gpu

    # files ----------------------------------------------------------------------------------
    @cached_property
    def paths(self) -> Layout:
        return Layout.of(self.config)

    @property
    def workdir(self) -> Path:
        return Path(self.paths.root)

    @property
    def label_owner(self) -> Path:
        """The work folder recorded as the label image's owner: the image's, or for a timepoint of a
        time series the series' (``Layout.series_folder``), which all its timepoints share."""
        series = self.config.get("series")
        return Path(Layout.of_run(self.config).series_folder(series["id"])) if series else self.workdir

    @property
    def input_marker(self) -> str:
        """The input level's array metadata file: a file we never write, tracking the input (for a
        microscope file: the record of its finished conversion)."""
        if self.conversion:
            return self.paths.converted
        name = "zarr.json" if self.image.zarr_format == 3 else ".zarray"
        return str(Path(self.config["input"]["store"]) / self.image.path / name)

    def stage_records(self) -> list[str]:
        """Every tile's stage record."""
        return [self.paths.stage_record(t) for t in range(self.grid.n_tiles)]

    def relabel_records(self) -> list[str]:
        """Every tile's relabel record."""
        return [self.paths.relabel_record(t) for t in range(self.grid.n_tiles)]

    def face_files(self) -> list[str]:
        """Every face's label pairs."""
        return [self.face_file(t, a) for t, a in self.grid.faces()]

    def measures_files(self) -> list[str]:
        """Every tile's per-label measurements."""
        return [self.paths.measures(t) for t in range(self.grid.n_tiles)]

    def face_file(self, tile: int, axis: int) -> str:
        """The label pairs that touch across face ``(tile, axis)``, named by its two tiles."""
        return self.paths.face(tile, self.grid.neighbour(tile, axis))
