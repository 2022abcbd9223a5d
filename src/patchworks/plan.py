"""The run plan: validated config + input metadata -> geometry, paths and job lists.

Built at Snakefile parse time (metadata reads only) and again inside each job.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from . import demo
from .errors import ConfigError
from .grid import TileGrid
from .labels import LabelImage, overwrite_message
from .methods import needs_image_threshold
from .methods.custom import import_function
from .methods.threshold import smoothing_radius
from .ngff import ImageInfo, ImageSource, fixed_indices, read_image_info


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

    # inputs -------------------------------------------------------------------------------
    @cached_property
    def image(self) -> ImageInfo:
        inp = self.config["input"]
        if inp["demo"] and not Path(inp["store"]).exists():
            return demo.expected_info(inp["store"], self.config["input"]["level"])
        return read_image_info(inp["store"], inp["level"])

    def source(self) -> ImageSource:
        return ImageSource(self.image, self.config["input"]["channel"], self.config["input"]["timepoint"])

    @cached_property
    def grid(self) -> TileGrid:
        shape = self.image.spatial_shape
        names = self.image.spatial_names
        tile = per_axis(self.config["tiling"]["tile_shape"], len(shape), "tiling.tile_shape")
        overlap = per_axis(self.config["tiling"]["overlap"], len(shape), "tiling.overlap")
        for t, o, s, name in zip(tile, overlap, shape, names):
            if t < 1:
                raise ConfigError(f"tiling.tile_shape: {t} along '{name}' must be >= 1")
            if t > s:
                raise ConfigError(f"tiling.tile_shape: {t} along '{name}' is larger than the image "
                                  f"({s}); use at most {s}")
            if not 0 <= o < t:
                raise ConfigError(f"tiling.overlap: {o} along '{name}' must be >= 0 and smaller "
                                  f"than the tile ({t})")
        sigma = self.config["method"]["threshold"]["smooth_sigma"]
        if self.config["method"]["name"] == "threshold" and min(overlap) < smoothing_radius(sigma):
            raise ConfigError(f"tiling.overlap: {min(overlap)} is smaller than the reach of "
                              f"method.threshold.smooth_sigma {sigma} ({smoothing_radius(sigma)} voxels); "
                              "raise the overlap so tiles match the whole image")
        return TileGrid(shape, tile, overlap)

    @property
    def connectivity(self) -> int:
        c, ndim = self.config["connectivity"], len(self.image.spatial_shape)
        if not 1 <= c <= ndim:
            raise ConfigError(f"connectivity: {c} is out of range for a {ndim}-D image; use 1..{ndim}")
        return c

    @cached_property
    def label(self) -> LabelImage:
        out, pyr = self.config["output"], self.config["pyramid"]
        root = out["store"] or self.config["input"]["store"]
        spatial = self.image.spatial_names
        keep_z = not pyr["downscale_z"]
        factors = tuple(1 if (name == "z" and keep_z) else pyr["downscale"] for name in spatial)
        label = LabelImage(
            root=str(root), name=out["label_name"], image=self.image, grid=self.grid,
            levels=pyr["levels"], factors=factors, dtype=out["dtype"], into_input=out["store"] is None,
        )
        label.check_alignment()
        return label

    @property
    def needs_threshold_job(self) -> bool:
        tiling = self.config["tiling"]
        return needs_image_threshold(self.config["method"]) or (
            tiling["skip_empty"] and tiling["empty_threshold"] == "otsu")

    def validate(self, method: bool = True) -> None:
        """Every check that needs the input's metadata; raises ConfigError/InputError.

        ``method=False`` skips importing a custom method (the Python API passes a callable).
        """
        _ = self.grid, self.connectivity, self.label
        fixed_indices(self.image, self.config["input"]["channel"], self.config["input"]["timepoint"])
        if method and self.config["method"]["name"] == "custom":
            if not self.config["method"]["custom"]["function"]:
                raise ConfigError("method.custom.function: required when method.name is 'custom'; "
                                  "give 'package.module:function'")
            import_function(self.config["method"]["custom"]["function"])
        self._check_paths()
        self._check_overwrite()

    def _check_paths(self) -> None:
        inp = Path(self.config["input"]["store"]).resolve()
        paths = (("output.store", self.config["output"]["store"]), ("workdir", self.config["workdir"]))
        for key, value in paths:
            if value is None:
                continue
            p = Path(value).resolve()
            if p == inp or inp in p.parents:
                raise ConfigError(f"{key}: {value} is the input store {inp} or inside it; "
                                  "choose a path outside it (labels go into the input store by default)")

    def _check_overwrite(self) -> None:
        label = self.label
        if not label.path.exists() or self.config["output"]["overwrite"]:
            return
        if label.owner() != str(self.workdir.resolve()) or not self.workdir.exists():
            raise ConfigError(overwrite_message(label))

    # paths --------------------------------------------------------------------------------
    @property
    def workdir(self) -> Path:
        return Path(self.config["workdir"]) / self.config["output"]["label_name"]

    def path(self, *parts: str | int) -> str:
        return str(self.workdir.joinpath(*map(str, parts)))

    @property
    def input_marker(self) -> str:
        """The input level's array metadata file: a file we never write, tracking the input."""
        name = "zarr.json" if self.image.zarr_format == 3 else ".zarray"
        return str(Path(self.config["input"]["store"]) / self.image.path / name)

    @property
    def stage_store(self) -> str:
        return self.path("stage.zarr")

    @property
    def table_dir(self) -> str:
        return self.path("table")
