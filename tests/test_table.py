"""The relabel table (``build_table``, ``RelabelTable``) and face contacts (``face_pairs``, from the
tiles' boundary planes)."""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchworks.merge.faces import face_pairs
from patchworks.merge.planes import read_plane, save_boundary_planes
from patchworks.merge.relabel_table import RelabelTable, apply_lut, build_table
from patchworks.tiling.grid import TileGrid, neighbour_offsets


def node(tile: int, label: int) -> int:
    """Node code of local ``label`` in ``tile``."""
    return tile << 32 | label


def pairs_of(*edges: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """``(node_a, node_b)`` rows from ``((tile, label), (tile, label))`` edges."""
    return np.array([[node(*a), node(*b)] for a, b in edges], dtype=np.int64).reshape(-1, 2)


def all_luts(table: RelabelTable, n_tiles: int) -> list[np.ndarray]:
    return [table.tile_lut(t) for t in range(n_tiles)]


def reference_ids(counts: list[int], edges: list[tuple[tuple[int, int], tuple[int, int]]]) -> list[list[int]]:
    """Union-find, then ids 1..N in order of each component's first (tile, label)."""
    parent = {(t, i): (t, i) for t, c in enumerate(counts) for i in range(1, c + 1)}

    def find(x: tuple[int, int]) -> tuple[int, int]:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    ids: dict[tuple[int, int], int] = {}
    for key in sorted(parent):  # (tile, label) order
        ids.setdefault(find(key), len(ids) + 1)
    return [[0] + [ids[find((t, i))] for i in range(1, c + 1)] for t, c in enumerate(counts)]


def test_hand_made_table() -> None:
    """Merged labels share the id of their first member; the others keep their order, without gaps."""
    counts = np.array([3, 2, 4])
    table = build_table(counts, [
        pairs_of(((0, 2), (1, 1)), ((0, 3), (2, 4))),
        pairs_of(((1, 1), (2, 3))),
    ])
    assert table.n_objects == 6
    luts = all_luts(table, 3)
    np.testing.assert_array_equal(luts[0], [0, 1, 2, 3])
    np.testing.assert_array_equal(luts[1], [0, 2, 4])
    np.testing.assert_array_equal(luts[2], [0, 5, 6, 2, 3])
    # only the dropped members are stored, per tile
    np.testing.assert_array_equal(table.ptr, [0, 0, 1, 3])
    np.testing.assert_array_equal(table.member_local, [1, 3, 4])


def test_no_pairs_and_empty_tiles() -> None:
    """Without pairs ids are just consecutive; a tile without labels maps only 0 to 0."""
    table = build_table(np.array([2, 0, 3]), [])
    assert table.n_objects == 5
    assert [lut.tolist() for lut in all_luts(table, 3)] == [[0, 1, 2], [0], [0, 3, 4, 5]]
    table = build_table(np.array([2, 0, 3]), [np.zeros((0, 2), np.int64)])
    assert table.n_objects == 5


def test_pair_beyond_count_is_rejected() -> None:
    """A pair naming a label its tile's count does not include is a ValueError."""
    with pytest.raises(ValueError, match="count"):
        build_table(np.array([2, 2]), [pairs_of(((0, 1), (1, 3)))])
    with pytest.raises(ValueError, match="count"):
        build_table(np.array([2, 2]), [pairs_of(((0, 0), (1, 1)))])


@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[int], list[tuple[tuple[int, int], tuple[int, int]]]]:
    """Per-tile label counts and random pairs between labels of different tiles."""
    counts = draw(st.lists(st.integers(0, 12), min_size=1, max_size=8))
    nodes = [(t, i) for t, c in enumerate(counts) for i in range(1, c + 1)]
    if not nodes:
        return counts, []
    edges = draw(st.lists(st.tuples(st.sampled_from(nodes), st.sampled_from(nodes)), max_size=40))
    return counts, [(a, b) for a, b in edges if a[0] != b[0]]  # faces pair labels of different tiles


@settings(max_examples=300, deadline=None)
@given(graph=graphs(), seed=st.integers(0, 2**32 - 1), n_parts=st.integers(1, 4))
def test_random_tables_match_union_find(
    graph: tuple[list[int], list[tuple[tuple[int, int], tuple[int, int]]]], seed: int, n_parts: int,
) -> None:
    """Ids are 1..N, shared within components, in first-occurrence order, whatever the pair order."""
    counts, edges = graph
    expected = reference_ids(counts, edges)
    pairs = pairs_of(*edges)
    table = build_table(np.array(counts), [pairs])
    luts = all_luts(table, len(counts))
    assert [lut.tolist() for lut in luts] == expected
    ids = np.concatenate([lut[1:] for lut in luts])
    assert table.n_objects == (ids.max() if ids.size else 0)
    np.testing.assert_array_equal(np.unique(ids), np.arange(1, table.n_objects + 1))
    # first occurrence order: scanning tiles then labels, each new id is the next one
    first = ids[np.sort(np.unique(ids, return_index=True)[1])]
    np.testing.assert_array_equal(first, np.arange(1, table.n_objects + 1))
    # shuffled rows, swapped columns, duplicated rows and several arrays give the same table
    rng = np.random.default_rng(seed)
    shuffled = pairs[rng.permutation(len(pairs))]
    shuffled = np.where(rng.random((len(pairs), 1)) < 0.5, shuffled, shuffled[:, ::-1])
    shuffled = np.concatenate([shuffled, shuffled[: len(shuffled) // 2]])
    parts = np.array_split(shuffled, n_parts)
    again = build_table(np.array(counts), parts)
    assert [lut.tolist() for lut in all_luts(again, len(counts))] == expected


@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip(tmp_path: Path, mmap: bool) -> None:
    """A saved table loads (memory-mapped or not) with the same arrays and lookup tables."""
    counts = np.array([4, 0, 3, 5])
    table = build_table(counts, [pairs_of(((0, 4), (2, 1)), ((2, 3), (3, 5)), ((0, 1), (3, 2)))])
    table.save(tmp_path / "table")
    loaded = RelabelTable.load(tmp_path / "table", mmap=mmap)
    assert isinstance(loaded.offsets, np.memmap) == mmap
    for name in ("offsets", "ptr", "member_local", "member_final"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(table, name))
    assert loaded.n_objects == table.n_objects == 9
    for a, b in zip(all_luts(loaded, 4), all_luts(table, 4)):
        np.testing.assert_array_equal(a, b)


# face contacts -----------------------------------------------------------------------------------


def contacts(labels: np.ndarray, tile: tuple[int, ...], connectivity: int) -> set[frozenset[int]]:
    """Every (unordered) pair found over all faces of the grid, each face read from the boundary
    planes its tiles' stage jobs would keep (written to real files); checks where each pair's nodes lie
    and that no pair is found by two face jobs (each tile pair belongs to exactly one face)."""
    grid = TileGrid(labels.shape, tile, (0,) * labels.ndim)
    found: set[frozenset[int]] = set()
    with tempfile.TemporaryDirectory() as tmp:
        planes_file = f"{tmp}/{{}}.npz".format
        for t in range(grid.n_tiles):
            save_boundary_planes(planes_file(t), np.ascontiguousarray(labels[grid.core(t)]))
        for t, axis in grid.faces():
            pairs = face_pairs(partial(read_plane, grid, planes_file), grid, t, axis, connectivity)
            assert pairs.dtype == np.int64 and pairs.shape[1] == 2
            assert len(np.unique(pairs, axis=0)) == len(pairs)
            assert set((pairs[:, 0] >> 32).tolist()) <= {t}
            assert set((pairs[:, 1] >> 32).tolist()) <= set(grid.face_tiles(t, axis)[1:])
            new = {frozenset((int(a), int(b))) for a, b in pairs}
            assert not new & found, "a contact was found by two face jobs"
            found |= new
    return found


@pytest.mark.parametrize(("a", "b"), [((1, 1), (2, 2)), ((1, 2), (2, 1))], ids=["diagonal", "anti-diagonal"])
def test_2d_corner_contact_needs_connectivity_2(a: tuple[int, int], b: tuple[int, int]) -> None:
    """Two labels touching only through a corner across diagonal tiles pair under connectivity 2 only."""
    labels = np.zeros((4, 4), dtype=np.uint32)
    labels[a] = 1
    labels[b] = 1
    grid = TileGrid((4, 4), (2, 2), (0, 0))
    tiles = [grid.flat(tuple(i // 2 for i in p)) for p in (a, b)]
    assert contacts(labels, (2, 2), 1) == set()
    assert contacts(labels, (2, 2), 2) == {frozenset((node(tiles[0], 1), node(tiles[1], 1)))}


@pytest.mark.parametrize(("a", "b", "needs"), [
    ((1, 1, 0), (2, 2, 0), 2),  # edge contact, offset (1, 1, 0)
    ((1, 0, 2), (2, 0, 1), 2),  # edge contact, offset (1, 0, -1)
    ((0, 1, 1), (0, 2, 2), 2),  # edge contact within a z row of tiles
    ((1, 1, 1), (2, 2, 2), 3),  # corner contact, offset (1, 1, 1)
    ((1, 2, 1), (2, 1, 2), 3),  # corner contact, offset (1, -1, 1)
    ((1, 2, 2), (2, 1, 1), 3),  # corner contact, offset (1, -1, -1)
])
def test_3d_edge_and_corner_contacts(a: tuple[int, ...], b: tuple[int, ...], needs: int) -> None:
    """3-D edge contacts pair from connectivity 2 and corner contacts only at 3."""
    labels = np.zeros((4, 4, 4), dtype=np.uint32)
    labels[a] = 1
    labels[b] = 1
    grid = TileGrid((4, 4, 4), (2, 2, 2), (0, 0, 0))
    pair = {frozenset(node(grid.flat(tuple(i // 2 for i in p)), 1) for p in (a, b))}
    for connectivity in (1, 2, 3):
        assert contacts(labels, (2, 2, 2), connectivity) == (pair if connectivity >= needs else set())


def test_face_contacts_across_ragged_tiles() -> None:
    """Contacts into short last tiles are found once per touching label pair, per connectivity."""
    labels = np.zeros((5, 5), dtype=np.uint32)  # tiles (3, 3): 0 = [0:3, 0:3], 1, 2 = [3:5, 0:3], 3
    labels[:, 2] = [1, 1, 2, 2, 1]  # tile 0 labels 1, 2; tile 2 labels 2, 1
    labels[4, 3:] = 1  # tile 3 label 1
    face = {frozenset((node(0, 2), node(2, 2))), frozenset((node(2, 1), node(3, 1)))}
    assert contacts(labels, (3, 3), 1) == face
    assert contacts(labels, (3, 3), 2) == face | {frozenset((node(2, 2), node(3, 1)))}


def brute_force_contacts(labels: np.ndarray, grid: TileGrid, connectivity: int) -> set[frozenset[int]]:
    """Unordered node pairs of every two touching labelled voxels in different tiles."""
    tiles = np.zeros(labels.shape, dtype=np.int64)
    for t in range(grid.n_tiles):
        tiles[grid.core(t)] = t
    codes = tiles << 32 | labels.astype(np.int64)
    found: set[frozenset[int]] = set()
    for p in zip(*np.nonzero(labels)):
        for d in neighbour_offsets(labels.ndim, connectivity):
            q = tuple(i + di for i, di in zip(p, d))
            if all(0 <= i < n for i, n in zip(q, labels.shape)) and labels[q] and tiles[q] != tiles[p]:
                found.add(frozenset((int(codes[p]), int(codes[q]))))
    return found


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_face_pairs_find_every_cross_tile_contact(data: st.DataObject) -> None:
    """Over all faces, face_pairs finds exactly the cross-tile contacts of a brute-force scan."""
    ndim = data.draw(st.sampled_from([2, 3]))
    shape = tuple(data.draw(st.integers(1, 9 if ndim == 2 else 6)) for _ in range(ndim))
    tile = tuple(data.draw(st.integers(1, s)) for s in shape)
    grid = TileGrid(shape, tile, (0,) * ndim)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    labels = np.zeros(shape, dtype=np.uint32)
    density = data.draw(st.floats(0.1, 0.9))
    for t in range(grid.n_tiles):  # local labels 1..3 per tile
        core = grid.core(t)
        region = tuple(s.stop - s.start for s in core)
        labels[core] = rng.integers(1, 4, region) * (rng.random(region) < density)
    connectivity = data.draw(st.integers(1, ndim))
    assert contacts(labels, tile, connectivity) == brute_force_contacts(labels, grid, connectivity)


@pytest.mark.parametrize("out_dtype", [np.uint32, np.uint64, np.uint16])
def test_apply_lut_is_the_lookup_in_place_or_not(out_dtype: type) -> None:
    """fastremap's in-place lookup (same dtypes) and numpy's (other dtypes) both give lut[labels]; a
    label past the table's end is an error that says so, not a label left as it was."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 500, (7, 9, 11)).astype(np.uint32)
    lut = rng.permutation(500).astype(out_dtype)
    expected = lut[labels]
    got = apply_lut(lut, labels.copy())
    assert got.dtype == out_dtype and got.shape == labels.shape
    np.testing.assert_array_equal(got, expected)
    labels[3, 4, 5] = 500
    with pytest.raises(ValueError, match="label 500 has no entry in the relabel table"):
        apply_lut(lut, labels)
