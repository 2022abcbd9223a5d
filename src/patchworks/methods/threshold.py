"""``threshold``: a fixed or whole-image Otsu threshold followed by connected components."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from ..segment.thresholds import Threshold, above

TRUNCATE = 4.0


def smoothing_radius(sigma: float) -> int:
    """Voxels a Gaussian of ``sigma`` reaches; an overlap this large makes tiles exact."""
    return int(TRUNCATE * sigma + 0.5) if sigma > 0 else 0


def label_above(tile: np.ndarray, value: Threshold, connectivity: int, sigma: float = 0.0) -> np.ndarray:
    """Connected components of ``tile > value`` (after Gaussian smoothing with ``sigma``), compared
    exactly in the tile's own type; NaN is background."""
    from scipy import ndimage  # here, not at the top: the workflow's parse and other jobs skip it

    if sigma > 0:
        tile = ndimage.gaussian_filter(tile.astype(np.float32), sigma, truncate=TRUNCATE)
    structure = ndimage.generate_binary_structure(tile.ndim, connectivity)
    labels, _ = ndimage.label(above(tile, value), structure=structure, output=np.uint32)
    return labels


def build(method: dict[str, Any], context: Any) -> Any:
    """Tile function for the config's ``method.threshold`` section."""
    value = method["threshold"]["value"]
    if value == "otsu":
        if context.threshold is None:
            raise ValueError("method.threshold.value is 'otsu' but no image threshold was computed")
        value = context.threshold
    sigma = float(method["threshold"]["smooth_sigma"])
    return partial(label_above, value=value, connectivity=context.connectivity, sigma=sigma)
