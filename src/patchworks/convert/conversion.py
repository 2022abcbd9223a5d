"""One conversion of a microscope file into an OME-Zarr: where it goes, whether a finished one can
be reused, and its three steps (start, one region, finish)."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io.ngff import ImageInfo, read_image_info
from ..tiling.grid import TileGrid
from . import write
from .layout import Layout, choose_levels
from .source import Header, Source, open_source, suffix


def default_store(source: str | Path, workdir: str | Path, scene: int | str | None = None) -> str:
    """Beside the work directory: ``<workdir's folder>/<file name without extension>[_<scene>].ome.zarr``."""
    stem = Path(source).name[: -len(suffix(source))] if suffix(source) else Path(source).name
    tag = "" if scene is None else "_" + re.sub(r"[^A-Za-z0-9_.-]", "-", str(scene))
    return str(Path(workdir).parent / f"{stem}{tag}.ome.zarr")


@dataclass(frozen=True)
class Conversion:
    source_path: str
    store: str
    scene: int | str | None = None
    levels: int | str = "auto"
    tile_shape: int | list[int] | str = "auto"  # as configured (tiling.tile_shape): for "auto" levels

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Conversion:
        inp, conv = config["input"], config["convert"]
        store = conv["store"] or default_store(inp["store"], config["workdir"], inp["scene"])
        return cls(inp["store"], store, inp["scene"], conv["levels"], config["tiling"]["tile_shape"])

    # the file ------------------------------------------------------------------------------
    @cached_property
    def source(self) -> Source:
        return open_source(self.source_path, self.scene)

    @property
    def header(self) -> Header:
        return self.source.header

    def fingerprint(self) -> dict[str, Any]:
        """What a finished conversion must have been made from to be reused (no pixels read)."""
        st = os.stat(self.source_path)
        return {"path": str(Path(self.source_path).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                "scene": self.scene, "levels": self.levels}

    # the store -----------------------------------------------------------------------------
    @cached_property
    def layout(self) -> Layout:
        spatial = Layout(self.header, 1).spatial_shape(0)
        if isinstance(self.tile_shape, int):
            hint: tuple[int, ...] | None = tuple(min(self.tile_shape, s) for s in spatial)
        elif isinstance(self.tile_shape, list) and len(self.tile_shape) == len(spatial):
            hint = tuple(self.tile_shape)
        else:
            hint = None
        return Layout(self.header, choose_levels(self.levels, spatial, hint))

    def is_done(self) -> bool:
        """A finished conversion of this very file (same size, mtime, scene and levels) is there."""
        rec = write.record(self.store)
        return bool(rec and rec.get("complete") and rec.get("converted_from") == self.fingerprint())

    def image_info(self, level: int) -> ImageInfo:
        """The converted image's metadata: read from the store once finished, else from the file's header."""
        if self.is_done():
            return read_image_info(self.store, level)
        return self.layout.image_info(self.store, level)

    @staticmethod
    def regions(grid: TileGrid) -> list[slice]:
        """One slab of tiles (one tile thick along the first spatial axis) per conversion job."""
        n, t = grid.shape[0], grid.tile_shape[0]
        return [slice(r * t, min((r + 1) * t, n)) for r in range(math.ceil(n / t))]

    # the steps -----------------------------------------------------------------------------
    def check(self) -> None:
        """The store is free to (re)write: absent, or made by a conversion (never a user's own data)."""
        if Path(self.store).exists() and write.record(self.store) is None:
            raise InputError(f"convert.store: {self.store} exists and was not written by a patchworks "
                             "conversion; choose another path for the converted image, or remove it")

    def start(self, grid: TileGrid) -> bool:
        """Reuse a finished conversion of the same file (True), or create the empty store (False)."""
        if self.is_done():
            return True
        self.check()
        write.create(self.store, self.layout, grid, self.fingerprint())
        return False

    def write_region(self, grid: TileGrid, region: int) -> None:
        write.write_region(self.source, self.layout, self.store, self.regions(grid)[region])

    def finish(self) -> None:
        """Build the pyramid level by level from disk, then write the metadata (only now complete)."""
        for level in range(1, self.layout.levels):
            write.build_level(self.layout, self.store, level)
        write.publish(self.store, self.layout, self.fingerprint())
