"""Tile functions that are workflow methods: ``tile_process`` runs them as that method of the config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import Context, method_of


@dataclass(frozen=True)
class MethodFn:
    """A tile function made of a config's ``method`` section (e.g. by ``cellpose_fn``).

    ``tile_process`` runs it as that method, exactly as the workflow does: the image's intensity
    range is computed once (the normalization step) and every tile is scaled by it, and the model
    loads once per worker. Called directly on a tile, it scales by ``intensity_range``, or by the
    tile's own percentiles when that is None.
    """

    method: dict[str, Any]
    intensity_range: tuple[float, float] | None = None

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        from ..pipeline.config import schema

        low_high = self.intensity_range
        if low_high is None:
            stats = schema()["properties"]["statistics"]["properties"]
            low, high = np.percentile(tile, stats["percentiles"]["default"]).tolist()
            low_high = (low, high)
        return method_of(self.method).build(Context(1, intensity_range=low_high))(tile)
