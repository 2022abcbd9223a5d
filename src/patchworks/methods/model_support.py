"""What the model methods share: fixed per-image normalisation and 2-D models on 3-D stacks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def normalized(tile: np.ndarray, intensity_range: tuple[float, float] | None) -> np.ndarray:
    """``tile`` scaled so the image's low/high percentiles map to 0/1 (float32), the same for every tile."""
    if intensity_range is None:
        raise ValueError("a model method needs the image's intensity range (the normalization job)")
    low, high = intensity_range
    scale = 1.0 / (high - low) if high > low else 1.0
    return ((tile.astype(np.float32) - np.float32(low)) * np.float32(scale)).astype(np.float32, copy=False)


def per_plane(segment_2d: Callable[[np.ndarray], np.ndarray], stack: np.ndarray) -> np.ndarray:
    """A 2-D segmentation of every z-plane of ``stack`` (z first); ids made unique across planes."""
    out = np.zeros(stack.shape[:3], dtype=np.uint32)
    offset = 0
    for z, plane in enumerate(stack):
        labels = np.asarray(segment_2d(plane)).astype(np.uint32)
        out[z] = np.where(labels > 0, labels + offset, 0)
        offset += int(labels.max()) if labels.size else 0
    return out
