"""patchworks: segment huge OME-Zarr images tile by tile; merge labels globally and exactly."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["auto_overlap", "auto_tile_shape", "auto_tile_shape_cellpose", "cellpose_fn",
           "estimate_empty_tiles", "make_local_cluster", "merge_tile_labels", "run", "stardist_fn",
           "tile_process"]

#: Public name -> module that defines it, imported on first use: workflow jobs import submodules only,
#: and skip dask's start-up cost.
_HOMES = {
    "tile_process": ".api", "merge_tile_labels": ".api", "cellpose_fn": ".plugins.cellpose",
    "stardist_fn": ".plugins.stardist",
    "estimate_empty_tiles": ".segment.occupancy", "make_local_cluster": ".pipeline.cluster",
    "auto_tile_shape": ".tiling.sizing", "auto_tile_shape_cellpose": ".tiling.sizing",
    "auto_overlap": ".tiling.sizing", "run": ".pipeline.local",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        from importlib import import_module

        return getattr(import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module 'patchworks' has no attribute {name!r}")
