"""Label-preserving downsampling: block mode or nearest, never interpolation."""

from __future__ import annotations

import itertools

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
    # every voxel of a block, as one strided view per position in the block
    votes = [arr[tuple(slice(o, None, f) for o, f in zip(offset, factors))]
             for offset in itertools.product(*(range(f) for f in factors))]
    best = votes[0]
    best_key = None
    for candidate in votes:  # key: votes * 2 + (not background); ties go to the smaller label
        count = np.zeros(candidate.shape, dtype=np.int16)
        for other in votes:
            count += candidate == other
        key = count * 2 + (candidate != 0)
        if best_key is None:
            best, best_key = candidate.copy(), key
            continue
        better = (key > best_key) | ((key == best_key) & (candidate < best))
        best[better] = candidate[better]
        best_key[better] = key[better]
    return best
