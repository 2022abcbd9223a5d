"""Tile grid geometry: tiles, halos, boundary faces and chunk shapes."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

Slices = tuple[slice, ...]


@dataclass(frozen=True)
class Tile:
    """One tile of a :class:`TileGrid`, its geometry computed once (:meth:`TileGrid.tile`)."""

    number: int  # flat (C-order) tile number
    index: tuple[int, ...]  # grid coordinates
    core: Slices  # the voxels it owns
    halo: Slices  # the core grown by the overlap on every side, clipped at the image border
    core_in_halo: Slices  # where the core lies inside the array read with ``halo``

    def __str__(self) -> str:
        region = ", ".join(f"{s.start}:{s.stop}" for s in self.core)
        return f"tile {self.number} (grid index {self.index}, region [{region}])"


@dataclass(frozen=True)
class TileGrid:
    """A regular grid of tiles over an image of ``shape``; the last tile per axis may be short."""

    shape: tuple[int, ...]
    tile_shape: tuple[int, ...]
    overlap: tuple[int, ...]

    def __post_init__(self) -> None:
        if not (len(self.shape) == len(self.tile_shape) == len(self.overlap)):
            raise ValueError(
                f"shape {self.shape}, tile_shape {self.tile_shape} and overlap {self.overlap} "
                "must have one entry per spatial axis"
            )
        if any(t < 1 for t in self.tile_shape) or any(o < 0 for o in self.overlap):
            raise ValueError("tile_shape entries must be >= 1 and overlap entries >= 0")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @cached_property
    def counts(self) -> tuple[int, ...]:
        """Number of tiles along each axis."""
        return tuple(math.ceil(s / t) for s, t in zip(self.shape, self.tile_shape))

    @property
    def n_tiles(self) -> int:
        return math.prod(self.counts)

    def index(self, tile: int) -> tuple[int, ...]:
        """Grid coordinates of the flat (C-order) tile number ``tile``."""
        return tuple(int(i) for i in np.unravel_index(tile, self.counts))

    def flat(self, index: tuple[int, ...]) -> int:
        """Flat (C-order) tile number of grid coordinates ``index``."""
        return int(np.ravel_multi_index(index, self.counts))

    def tile(self, number: int) -> Tile:
        """The geometry of the flat (C-order) tile number ``number``."""
        index = self.index(number)
        core = tuple(
            slice(i * t, min((i + 1) * t, s)) for i, t, s in zip(index, self.tile_shape, self.shape)
        )
        halo = tuple(
            slice(max(c.start - o, 0), min(c.stop + o, s))
            for c, o, s in zip(core, self.overlap, self.shape)
        )
        core_in_halo = tuple(slice(c.start - h.start, c.stop - h.start) for c, h in zip(core, halo))
        return Tile(number, index, core, halo, core_in_halo)

    def core(self, tile: int) -> Slices:
        """The voxels a tile owns."""
        return self.tile(tile).core

    def halo(self, tile: int) -> Slices:
        """The tile's core grown by the overlap on every side, clipped at the image border."""
        return self.tile(tile).halo

    def core_within_halo(self, tile: int) -> Slices:
        """Where the core lies inside the array read with :meth:`halo`."""
        return self.tile(tile).core_in_halo

    def faces(self) -> list[tuple[int, int]]:
        """Every ``(tile, axis)`` whose tile has a neighbour on the + side of ``axis``."""
        return [
            (tile, axis)
            for tile in range(self.n_tiles)
            for axis, (i, n) in enumerate(zip(self.index(tile), self.counts))
            if i + 1 < n
        ]

    def neighbour(self, tile: int, axis: int) -> int:
        """The tile next to ``tile`` on the + side of ``axis``."""
        index = list(self.index(tile))
        index[axis] += 1
        return self.flat(tuple(index))

    def face_axis(self, tile: int, neighbour: int) -> int:
        """The axis along which ``neighbour`` is the tile next to ``tile`` on the + side."""
        steps = [b - a for a, b in zip(self.index(tile), self.index(neighbour))]
        if sorted(steps) != [0] * (self.ndim - 1) + [1]:
            raise ValueError(f"tiles {tile} and {neighbour} share no face ({tile} first)")
        return steps.index(1)

    def face_tiles(self, tile: int, axis: int) -> list[int]:
        """Tiles whose voxels the job of face ``(tile, axis)`` reads at connectivity > 1: the face's two
        tiles and the neighbours its widened plane reaches (see :mod:`patchworks.merge.faces`)."""
        index = self.index(tile)
        ranges = [
            [i + 1] if ax == axis else [i] if ax < axis else [j for j in (i - 1, i, i + 1) if 0 <= j < n]
            for ax, (i, n) in enumerate(zip(index, self.counts))
        ]
        return [tile] + [self.flat(idx) for idx in itertools.product(*ranges)]

    def tile_of(self, coords: np.ndarray, axis: int) -> np.ndarray:
        """Grid coordinate along ``axis`` of voxel coordinates ``coords``."""
        return coords // self.tile_shape[axis]


def divisor_chunk(length: int, cap: int) -> int:
    """The largest divisor of ``length`` that is <= ``cap``, or ``length`` if none is near ``cap``.

    Chunks that divide a tile let every tile write its own chunks, so tiles never share one.
    """
    if length <= cap:
        return length
    best = max(d for d in range(1, cap + 1) if length % d == 0)
    return best if best * 4 >= cap else length


def neighbour_offsets(ndim: int, connectivity: int) -> list[tuple[int, ...]]:
    """All offsets in {-1, 0, 1}^ndim with 1..connectivity non-zero entries."""
    return [
        d
        for d in itertools.product((-1, 0, 1), repeat=ndim)
        if 0 < sum(x != 0 for x in d) <= connectivity
    ]
