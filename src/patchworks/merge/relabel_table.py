"""The ``cc`` step: connected components of touching pairs -> the global relabel table.

Staged labels are numbered 1..n_t per tile; ``offsets`` (an exclusive cumsum of the counts)
make them globally unique: ``g = offsets[t] + local``. Only labels that occur in pairs enter
the graph. In each component the smallest ``g`` is the root; every other member is dropped,
and final ids are the remaining ``g`` renumbered in order, so ids are contiguous 1..N and
depend only on the staged labels, not on job order.

The table stores, per tile, only its dropped members (local label and final id), so a relabel
job reads its own slice and derives every other id from ``offsets`` and ``ptr``; memory grows
with pairs and tiles, never with the largest label id.

A size filter removes whole objects: ``removed`` lists their ids (as numbered before the filter,
sorted); every lookup maps them to 0 and moves the ids after them down, so ids stay 1..N.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import fastremap
import numpy as np

from .faces import TILE_SHIFT

TABLE_FILES = ("offsets.npy", "ptr.npy", "member_local.npy", "member_final.npy", "removed.npy")
LOCAL_MASK = np.int64((1 << 32) - 1)


@dataclass
class RelabelTable:
    offsets: np.ndarray  # (n_tiles + 1,) int64: staged ids of tile t are offsets[t] + 1..count
    ptr: np.ndarray  # (n_tiles + 1,) int64: tile t's members are member_*[ptr[t]:ptr[t+1]]
    member_local: np.ndarray  # local label of each dropped member, sorted within a tile
    member_final: np.ndarray  # its final id (before the size filter)
    removed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # ids filtered out, sorted

    @property
    def n_merged(self) -> int:
        """Objects before the size filter."""
        return int(self.offsets[-1] - self.ptr[-1])

    @property
    def n_objects(self) -> int:
        return self.n_merged - len(self.removed)

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = (self.offsets, self.ptr, self.member_local, self.member_final, self.removed)
        for name, arr in zip(TABLE_FILES, arrays):
            np.save(folder / name, arr)

    @classmethod
    def load(cls, folder: str | Path, mmap: bool = True) -> RelabelTable:
        mode = "r" if mmap else None
        return cls(*(np.load(Path(folder) / name, mmap_mode=mode) for name in TABLE_FILES))

    def without(self, removed: np.ndarray) -> RelabelTable:
        """This table with the objects ``removed`` (ids before the filter) filtered out."""
        return replace(self, removed=np.unique(np.asarray(removed, dtype=np.int64)))

    def tile_lut(self, tile: int) -> np.ndarray:
        """Lookup table ``local label -> final id`` (index 0 -> 0) for one tile."""
        start, count = int(self.offsets[tile]), int(self.offsets[tile + 1] - self.offsets[tile])
        lo, hi = int(self.ptr[tile]), int(self.ptr[tile + 1])
        local = np.asarray(self.member_local[lo:hi], dtype=np.int64)
        final = np.asarray(self.member_final[lo:hi], dtype=np.int64)
        ids = np.arange(count + 1, dtype=np.int64)
        lut = start - lo + ids - np.searchsorted(local, ids)
        lut[local] = final
        lut[0] = 0
        if len(self.removed):  # the size filter: removed ids -> 0, the later ones close the gaps
            removed = np.asarray(self.removed)
            before = np.searchsorted(removed, lut)
            gone = removed[np.minimum(before, len(removed) - 1)] == lut
            lut -= before
            lut[gone] = 0
        return lut


LUT_STEP = 1 << 22  # voxels per lookup: numpy first turns the index array into intp (8 bytes each)


def apply_lut(lut: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``lut[labels]``; in place with fastremap's lookup when the dtypes match (3x numpy's on a
    128 x 1024 x 1024 tile), else a slab at a time to bound the temporaries."""
    labels = np.ascontiguousarray(labels)
    top = int(labels.max()) if labels.size else 0
    if top >= len(lut):  # fastremap would leave such a label as it is, numpy would raise IndexError
        raise ValueError(f"label {top} has no entry in the relabel table (ids 0..{len(lut) - 1}): the "
                         "staged labels do not match the table; run the stage and cc steps again")
    if labels.dtype == lut.dtype and lut.dtype.kind == "u":
        return fastremap.remap_from_array(labels.reshape(-1), lut, in_place=True).reshape(labels.shape)
    out = np.empty(labels.shape, lut.dtype)
    src, dst = labels.reshape(-1), out.reshape(-1)
    for i in range(0, src.size, LUT_STEP):
        dst[i:i + LUT_STEP] = lut[src[i:i + LUT_STEP]]
    return out


def build_table(counts: np.ndarray, pairs: Iterable[np.ndarray]) -> RelabelTable:
    """Build the relabel table from per-tile label counts and ``(node_a, node_b)`` pair arrays."""
    from scipy.sparse import coo_matrix  # only the cc job needs scipy
    from scipy.sparse.csgraph import connected_components

    counts = np.asarray(counts, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    edges = np.concatenate([np.asarray(p, dtype=np.int64).reshape(-1, 2) for p in pairs] or
                           [np.zeros((0, 2), np.int64)])
    nodes, inverse = np.unique(edges.ravel(), return_inverse=True)
    tiles = nodes >> TILE_SHIFT
    local = nodes & LOCAL_MASK
    if nodes.size and (local.min() < 1 or np.any(local > counts[tiles])):
        raise ValueError("a pair names a label that its tile's count does not include; "
                         "the stage outputs and face outputs are out of step: rerun the stage step")
    g = offsets[tiles] + local  # sorted, since node codes sort by (tile, local)
    n = nodes.size
    graph = coo_matrix((np.ones(len(edges), dtype=np.int8), (inverse[0::2], inverse[1::2])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    _, first = np.unique(component, return_index=True)  # index of each component's smallest g
    root_of = first[component]
    is_member = root_of != np.arange(n)
    members_g = g[is_member]
    root_final = g[first] - np.searchsorted(members_g, g[first])
    ptr = np.concatenate([[0], np.cumsum(np.bincount(tiles[is_member], minlength=len(counts)))])
    return RelabelTable(
        offsets=offsets,
        ptr=ptr.astype(np.int64),
        member_local=local[is_member].astype(np.uint32),
        member_final=root_final[component[is_member]],
    )
