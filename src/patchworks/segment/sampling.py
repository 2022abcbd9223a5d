"""A bounded, deterministic sample of an image, and the Otsu threshold computed from it."""

from __future__ import annotations

import math

import numpy as np
from skimage.filters import threshold_otsu

from ..io.ngff import ImageSource


def sample(source: ImageSource, max_voxels: int) -> np.ndarray:
    """Whole storage chunks, evenly spaced over the image, up to ``max_voxels`` voxels.

    Reading whole chunks (not strided voxels) keeps the I/O bounded by the sample size.
    """
    chunks = tuple(source.array.chunks[i] for i in source.info.spatial_axes)
    counts = tuple(math.ceil(s / c) for s, c in zip(source.shape, chunks))
    n_chunks = math.prod(counts)
    take = max(1, min(n_chunks, max_voxels // math.prod(chunks)))
    picks = np.unique(np.linspace(0, n_chunks - 1, take).round().astype(np.int64))
    parts = []
    for flat in picks:
        index = np.unravel_index(flat, counts)
        region = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, chunks, source.shape))
        parts.append(source.read(region).ravel())
    return np.concatenate(parts)


def otsu_threshold(source: ImageSource, max_voxels: int) -> float:
    """Otsu's threshold of the whole image, from a bounded sample (foreground is ``> value``)."""
    values = sample(source, max_voxels)
    if values.min() == values.max():
        return float(values.min())
    return float(threshold_otsu(values))
