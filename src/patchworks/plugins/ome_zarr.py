"""``to_ome_zarr``: a microscope file (CZI, LIF, ND2, OME-TIFF, TIFF, Imaris .ims) to a calibrated,
pyramidal OME-Zarr, with the workflow's own conversion steps."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..convert.source import is_microscope_file
from ..errors import InputError
from ..pipeline import local
from ..pipeline.config import validate_config


def to_ome_zarr(src: str | Path, dst: str | Path, *, scene: int | str | None = None,
                levels: int | str = "auto", tile_shape: int | list[int] = 512, workers: int = 1) -> Path:
    """Convert ``src`` into the OME-Zarr ``dst`` (NGFF 0.5) and return ``dst``.

    Lazy and bounded in memory: the file is read a slab at a time (``tile_shape`` along the first
    spatial axis; chunks divide the tiles), the pyramid (y/x halved per level, z kept) is built level
    by level from disk. Pixel sizes and units (NGFF names), channel names and the chosen ``scene``
    (index or name; required when the file has several) are kept. A finished conversion of the same
    file (same size and mtime) at ``dst`` is reused. ``workers`` > 1 converts slabs in processes.
    """
    if not is_microscope_file(src):
        raise InputError(f"to_ome_zarr: {src} is not a file; give a microscope file (CZI, LIF, ND2, "
                         "OME-TIFF, TIFF, Imaris .ims)")
    workdir = Path(tempfile.mkdtemp(prefix="patchworks-convert-"))
    try:
        config = validate_config({
            "input": {"store": str(src), "scene": scene}, "workdir": str(workdir),
            "convert": {"store": str(dst), "levels": levels},
            "tiling": {"tile_shape": tile_shape if isinstance(tile_shape, int) else list(tile_shape)},
        })
        local.convert(config, workers)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return Path(dst)
