"""patchworks: segment huge OME-Zarr images tile by tile; merge labels globally and exactly."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["run", "tile_process"]


def __getattr__(name: str) -> Any:
    # Imported on first use: workflow jobs import submodules only, and skip dask's start-up cost.
    if name == "tile_process":
        from .api import tile_process

        return tile_process
    if name == "run":
        from .local import run

        return run
    raise AttributeError(f"module 'patchworks' has no attribute {name!r}")
