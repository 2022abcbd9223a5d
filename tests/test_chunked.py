"""Reading and writing a few chunks at a time gives exactly what zarr's own indexing gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from patchworks.io import chunked


@st.composite
def cases(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 12)) for _ in range(ndim))
    chunks = tuple(draw(st.integers(1, s)) for s in shape)
    sel = []
    for s in shape:
        if ndim > 1 and draw(st.booleans()) and draw(st.booleans()):
            sel.append(draw(st.integers(0, s - 1)))  # an int axis (channel, timepoint)
        else:
            a = draw(st.integers(0, s - 1))
            sel.append(slice(a, draw(st.integers(a + 1, s))))
    itemsize = 2
    budget = draw(st.integers(1, 4)) * itemsize * int(np.prod(chunks))
    return shape, chunks, tuple(sel), budget


@settings(max_examples=150, deadline=None)
@given(cases())
def test_read_and_write_match_zarr(tmp_path_factory, case) -> None:
    shape, chunks, sel, budget = case
    root = Path(tmp_path_factory.mktemp("c"))
    data = np.arange(np.prod(shape), dtype=np.uint16).reshape(shape)
    a = zarr.create_array(root / "a.zarr", shape=shape, chunks=chunks, dtype=np.uint16, fill_value=0)
    a[...] = data
    assert np.array_equal(chunked.read(a, sel, budget), data[sel])

    b = zarr.create_array(root / "b.zarr", shape=shape, chunks=chunks, dtype=np.uint16, fill_value=0)
    values = (data[sel] + 7).astype(np.uint16)
    chunked.write(b, sel, values, budget)
    expected = np.zeros(shape, np.uint16)
    expected[sel] = values
    assert np.array_equal(b[...], expected)


def test_pieces_touch_at_most_the_budget() -> None:
    """A 2 x 3 x 3-chunk selection with a budget of 2 chunks splits into single rows of chunks
    along the last axis; every piece touches <= 2 chunks and together they cover the selection."""
    chunks, sel = (4, 4, 4), (slice(2, 10), slice(0, 12), slice(1, 11))
    parts = list(chunked.pieces(sel, chunks, 1, budget=2 * 64))
    assert all(chunked._touched_bytes(p, chunks, 1) <= 2 * 64 for p in parts)
    covered = np.zeros((12, 12, 12), int)
    for p in parts:
        covered[p] += 1
    expected = np.zeros_like(covered)
    expected[sel] = 1
    assert np.array_equal(covered, expected)


def test_read_gives_numpys_own_dtype(tmp_path: Path) -> None:
    """zarr's dtypes spell little-endian "<" explicitly, and numpy's ufunc.at takes a path 20x slower
    for them (the stage's and the table's per-label minima): what is read comes back in numpy's own
    spelling of the same dtype ("=" on this machine), values unchanged, big-endian stores included."""
    for endian in ("little", "big"):
        a = zarr.create_array(tmp_path / f"{endian}.zarr", shape=(4, 5), chunks=(2, 5), dtype=np.uint16,
                              serializer=zarr.codecs.BytesCodec(endian=endian))
        a[...] = np.arange(20, dtype=np.uint16).reshape(4, 5) * 1000
        got = chunked.read(a, (slice(0, 4), slice(1, 4)))
        assert a.dtype.byteorder == "<" and got.dtype.byteorder == "=" and got.dtype == a.dtype
        np.testing.assert_array_equal(got, np.arange(20).reshape(4, 5)[:, 1:4] * 1000)
