"""patchworks: segment huge OME-Zarr images tile by tile; merge labels globally and exactly."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["auto_tile_shape", "auto_tile_shape_cellpose", "cellpose_fn", "run", "stardist_fn",
           "tile_process"]


def __getattr__(name: str) -> Any:
    # Imported on first use: workflow jobs import submodules only, and skip dask's start-up cost.
    if name in ("tile_process", "cellpose_fn", "stardist_fn"):
        from . import api

        return getattr(api, name)
    if name in ("auto_tile_shape", "auto_tile_shape_cellpose"):
        from .tiling import sizing

        return getattr(sizing, name)
    if name == "run":
        from .pipeline.local import run

        return run
    raise AttributeError(f"module 'patchworks' has no attribute {name!r}")
