"""Label-preserving downsampling: block mode or nearest, never interpolation."""

from __future__ import annotations

import numpy as np


def downsample(labels: np.ndarray, factors: tuple[int, ...], method: str = "mode") -> np.ndarray:
    """Shrink ``labels`` by integer ``factors`` per axis; output shape is ``ceil(shape / f)``.

    ``mode`` takes each block's most frequent value, preferring a label over background on a
    tie and the smaller label between labels; blocks cut by the array end are padded by
    repeating the edge. ``nearest`` keeps each block's first voxel.
    """
    if method == "nearest":
        return labels[tuple(slice(None, None, f) for f in factors)]
    if method != "mode":
        raise ValueError(f"unknown downsampling method {method!r}; use 'mode' or 'nearest'")
    pad = [(0, -s % f) for s, f in zip(labels.shape, factors)]
    arr = np.pad(labels, pad, mode="edge") if any(p for _, p in pad) else labels
    nd = arr.ndim
    split = [n for s, f in zip(arr.shape, factors) for n in (s // f, f)]
    blocks = arr.reshape(split).transpose(list(range(0, 2 * nd, 2)) + list(range(1, 2 * nd, 2)))
    blocks = np.sort(blocks.reshape(blocks.shape[:nd] + (-1,)), axis=-1)
    counts = (blocks[..., :, None] == blocks[..., None, :]).sum(axis=-1, dtype=np.int32)
    key = counts * 2 + (blocks != 0)
    pick = np.argmax(key, axis=-1)[..., None]
    return np.take_along_axis(blocks, pick, axis=-1)[..., 0]
