"""``TileGrid.tile``: one tile's geometry, computed once."""

from patchworks.segment.stage import describe_tile
from patchworks.tiling.grid import TileGrid


def test_tile_value() -> None:
    grid = TileGrid((30, 25), (10, 10), (3, 4))
    t = grid.tile(5)  # grid index (1, 2): the short last tile along axis 1
    assert (t.number, t.index) == (5, (1, 2))
    assert t.core == (slice(10, 20), slice(20, 25))
    assert t.halo == (slice(7, 23), slice(16, 25))  # clipped at the image border
    assert t.core_in_halo == (slice(3, 13), slice(4, 9))
    assert (grid.core(5), grid.halo(5), grid.core_within_halo(5)) == (t.core, t.halo, t.core_in_halo)
    assert str(t) == describe_tile(grid, 5) == "tile 5 (grid index (1, 2), region [10:20, 20:25])"
