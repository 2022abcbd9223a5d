"""Read and write zarr regions a few chunks at a time, so a job's memory stays near its tile's.

zarr decodes (or encodes) every chunk a selection touches at once; for a tile read with its halo
that can be several times the tile's bytes. These helpers split the selection at chunk borders
into parts that touch at most ``budget`` bytes of chunks each (never less than one chunk).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import zarr
from zarr.core.buffer import default_buffer_prototype

BUDGET_BYTES = 32 * 2**20
Selection = tuple[Any, ...]  # one slice (step 1) or int per array axis


def _touched_bytes(sel: Selection, chunks: tuple[int, ...], itemsize: int) -> int:
    n = 1
    for s, c in zip(sel, chunks):
        if isinstance(s, slice) and s.stop > s.start:
            n *= (s.stop - 1) // c - s.start // c + 1
    return n * math.prod(chunks) * itemsize


def pieces(sel: Selection, chunks: tuple[int, ...], itemsize: int, budget: int = BUDGET_BYTES,
           axis: int = 0) -> Iterator[Selection]:
    """Chunk-aligned parts of ``sel`` that together cover it, split along the first axes first."""
    if axis == len(sel) or _touched_bytes(sel, chunks, itemsize) <= budget:
        yield sel
        return
    s, c = sel[axis], chunks[axis]
    if not isinstance(s, slice):
        yield from pieces(sel, chunks, itemsize, budget, axis + 1)
        return
    cuts = [s.start, *range((s.start // c + 1) * c, s.stop, c), s.stop]
    for a, b in zip(cuts, cuts[1:]):
        yield from pieces(sel[:axis] + (slice(a, b),) + sel[axis + 1:], chunks, itemsize, budget, axis + 1)


def _normalize(array: zarr.Array, sel: Selection) -> Selection:
    return tuple(slice(*s.indices(n)[:2]) if isinstance(s, slice) else s for s, n in zip(sel, array.shape))


def _local(part: Selection, sel: Selection) -> Selection:
    """Where ``part`` lies in the array that ``sel`` reads (int axes are dropped)."""
    return tuple(slice(p.start - s.start, p.stop - s.start)
                 for p, s in zip(part, sel) if isinstance(s, slice))


def read(array: zarr.Array, sel: Selection, budget: int = BUDGET_BYTES) -> np.ndarray:
    """``array[sel]`` as a numpy array, decoding at most ``budget`` bytes of chunks at a time, each
    part straight into its place in the result (no buffer of the part's own)."""
    sel = _normalize(array, sel)
    out = np.empty(tuple(s.stop - s.start for s in sel if isinstance(s, slice)), dtype=canonical(array.dtype))
    nd_buffer = default_buffer_prototype().nd_buffer
    for part in pieces(sel, array.chunks, array.dtype.itemsize, budget):
        view = out[(*_local(part, sel), ...)]  # a view, also of a 0-d result
        array.get_basic_selection(part, out=nd_buffer.from_numpy_array(view))
    return out


def canonical(dtype: np.dtype) -> np.dtype:
    """``dtype`` in native byte order, as numpy spells it itself: a big-endian array's values (zarr v2
    stores may hold them) are swapped on reading, which pyarrow and compiled extensions need, and
    zarr's little-endian dtypes say "<" explicitly, which sends numpy's ``ufunc.at`` down a generic
    path, 20x slower for ``np.minimum.at``."""
    return dtype.newbyteorder("=")


def write(array: zarr.Array, sel: Selection, data: np.ndarray, budget: int = BUDGET_BYTES) -> None:
    """``array[sel] = data``, encoding at most ``budget`` bytes of chunks at a time; a sharded array's
    shards are written whole (a part of a shard would be a read, merge and rewrite of all of it)."""
    sel = _normalize(array, sel)
    for part in pieces(sel, array.shards or array.chunks, array.dtype.itemsize, budget):
        array[part] = data[_local(part, sel)]
