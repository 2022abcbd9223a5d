"""A bounded, deterministic sample of an image, and the statistics computed once from it.

Padding is left out: a fused light-sheet volume is often mostly empty regions of one value (zero,
or the array's fill value where chunks were never written), and statistics over them would
describe the padding, not the sample. NaN voxels are left out too: they count as background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..io.ngff import ImageSource


@dataclass
class Sample:
    values: np.ndarray  # the finite voxels of the chunks that are not padding
    chunks: int  # chunks read
    padding_chunks: int  # chunks left out: every voxel the padding value

    def summary(self) -> dict[str, int]:
        return {"sample_voxels": int(self.values.size), "sample_chunks": self.chunks,
                "padding_chunks": self.padding_chunks}


def padding_of(source: ImageSource, padding: float | str | None) -> float | None:
    """The padding value: a number, None (no padding), or "auto" for the array's fill value."""
    if padding != "auto":
        return padding
    fill = source.array.fill_value
    return None if fill is None else fill.item() if hasattr(fill, "item") else fill


def sample(source: ImageSource, max_voxels: int, padding: float | str | None = "auto") -> Sample:
    """Whole storage chunks, evenly spaced over the image, up to ``max_voxels`` voxels; chunks whose
    every voxel equals ``padding`` (see :func:`padding_of`) are left out, unless all are.

    Reading whole chunks (not strided voxels) keeps the I/O bounded by the sample size.
    """
    pad = padding_of(source, padding)
    chunks = tuple(source.array.chunks[i] for i in source.info.spatial_axes)
    counts = tuple(math.ceil(s / c) for s, c in zip(source.shape, chunks))
    n_chunks = math.prod(counts)
    take = max(1, min(n_chunks, max_voxels // math.prod(chunks)))
    picks = np.unique(np.linspace(0, n_chunks - 1, take).round().astype(np.int64))
    kept, padded = [], []
    for flat in picks:
        index = np.unravel_index(flat, counts)
        region = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, chunks, source.shape))
        part = source.read(region).ravel()
        (padded if pad is not None and np.all(part == pad) else kept).append(part)
    values = np.concatenate(kept or padded)
    if values.dtype.kind == "b":  # a mask: its values 0 and 1, which Otsu and percentiles take
        values = values.view(np.uint8)
    if np.issubdtype(values.dtype, np.floating):
        values = values[np.isfinite(values)]
    if values.size == 0:
        raise InputError(f"input.store: every sampled voxel of {source.info.store} is NaN or infinite; "
                         "the image holds no values to compute its statistics from")
    return Sample(values, len(picks), len(padded) if kept else 0)


def otsu_threshold(values: np.ndarray) -> int | float:
    """Otsu's threshold of the sampled ``values`` (foreground is ``> value``); exact for a constant
    sample. Wide integer types are shifted to start at 0 first (Otsu does not depend on an offset):
    scikit-image counts an integer histogram from 0 to the largest value, which for uint32 / uint64
    values would not fit in memory, and a float64 cannot hold uint64 values exactly; the result is
    the sample's minimum plus a whole number, exact in the image's type."""
    from skimage.filters import threshold_otsu  # only the threshold job needs scikit-image

    low, high = values.min().item(), values.max().item()
    if low == high:
        return low
    if np.issubdtype(values.dtype, np.integer) and values.dtype.itemsize > 2:
        shifted = (values - values.dtype.type(low)).view(f"u{values.dtype.itemsize}")  # exact (int64 wraps)
        if high - low > 2**16:
            shifted = shifted.astype(np.float64)
        return low + math.floor(threshold_otsu(shifted))
    return float(threshold_otsu(values))
