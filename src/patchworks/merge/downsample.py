"""Label-preserving downsampling: block mode or nearest, never interpolation."""

from __future__ import annotations

import itertools

import numpy as np

SLAB_BYTES = 2**20  # the mode is taken a slab of blocks at a time: its temporaries stay in the CPU's cache


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
    out = np.empty(tuple(-(-s // f) for s, f in zip(labels.shape, factors)), labels.dtype)
    f0 = factors[0]
    step = f0 * max(1, SLAB_BYTES // max(1, labels[:1].nbytes * f0))  # whole blocks along the first axis
    for start in range(0, labels.shape[0], step):
        out[start // f0:(start + step) // f0] = block_modes(labels[start:start + step], factors)
    return out


def block_modes(labels: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """The mode of every block (see :func:`downsample`)."""
    pad = [(0, -s % f) for s, f in zip(labels.shape, factors)]
    arr = np.ascontiguousarray(np.pad(labels, pad, mode="edge") if any(p for _, p in pad) else labels)
    offsets = list(itertools.product(*(range(f) for f in factors)))
    # every voxel of a block, as one strided view per position in the block
    votes = [arr[tuple(slice(o, None, f) for o, f in zip(offset, factors))] for offset in offsets]
    first = votes[0]
    mixed = np.zeros(first.shape, dtype=bool)  # blocks not of one value: most lie on object borders
    for v in votes[1:]:
        mixed |= v != first
    best = first.copy()
    blocks = np.flatnonzero(mixed)
    if blocks.size:  # gathered from the flat array: a boolean mask per strided view costs 3x more
        origins = _block_origins(blocks, first.shape, arr, factors)
        flat = arr.reshape(-1)
        steps = [sum(o * s for o, s in zip(offset, arr.strides)) // arr.itemsize for offset in offsets]
        best.reshape(-1)[blocks] = block_mode([flat[origins + step] for step in steps])
    return best


def _block_origins(blocks: np.ndarray, grid: tuple[int, ...], arr: np.ndarray,
                   factors: tuple[int, ...]) -> np.ndarray:
    """Flat index in the C-contiguous ``arr`` of the first voxel of each block (numbered flat in
    the ``grid`` of blocks): its row of blocks' origin, looked up, plus its column times the factor."""
    rows = blocks // grid[-1]
    row_origin = np.zeros(grid[:-1], np.intp)
    for ax, (n, f, stride) in enumerate(zip(grid[:-1], factors[:-1], arr.strides[:-1])):
        along = np.arange(n) * (f * stride // arr.itemsize)
        row_origin = row_origin + along.reshape((-1,) + (1,) * (len(grid) - 2 - ax))
    return row_origin.reshape(-1)[rows] + (blocks - rows * grid[-1]) * factors[-1]


def block_mode(votes: list[np.ndarray]) -> np.ndarray:
    """Per position, the most frequent of ``votes``; ties go to a label over background, then to
    the smaller label."""
    count_dtype = np.uint8 if len(votes) <= 127 else np.int32
    counts = [np.ones(v.shape, dtype=count_dtype) for v in votes]
    for i, j in itertools.combinations(range(len(votes)), 2):  # each pair compared once
        same = votes[i] == votes[j]
        counts[i] += same
        counts[j] += same
    best, best_key = votes[0].copy(), counts[0] * 2 + (votes[0] != 0)
    for candidate, count in zip(votes[1:], counts[1:]):  # key: votes * 2 + (not background)
        key = count * 2 + (candidate != 0)
        better = (key > best_key) | ((key == best_key) & (candidate < best))
        np.copyto(best, candidate, where=better)
        np.copyto(best_key, key, where=better)
    return best
