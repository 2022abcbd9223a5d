"""Pyramid levels written tile by tile equal whole-image downsampling; ``downsample`` unit tests."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from patchworks.io.images import write_image
from patchworks.merge import downsample as ds
from patchworks.merge.downsample import block_modes, downsample
from patchworks.pipeline import local


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    """An image, pyramid settings, and a tiling aligned to the deepest level."""
    ndim = draw(st.sampled_from([2, 3]))
    factor = draw(st.sampled_from([2, 3]))
    levels = draw(st.integers(2, 4))
    downscale_z = ndim == 3 and draw(st.booleans())
    names = "yx" if ndim == 2 else "zyx"
    shape = tuple(draw(st.integers(1, 12 if ndim == 3 and n == "z" and not downscale_z else 40))
                  for n in names)
    span = factor ** (levels - 1)
    tile = []
    for n, s in zip(names, shape):
        aligned = span if n in "yx" or downscale_z else 1
        # a multiple of the span, or the whole axis (one tile: no alignment needed)
        multiples = [k * aligned for k in range(1, s // aligned + 1) if k * aligned >= s / 4]
        tile.append(draw(st.sampled_from(multiples + [s])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    image = ndimage.gaussian_filter(rng.random(shape), draw(st.sampled_from([0.0, 1.0, 2.0])))
    return {
        "image": (image * 100).astype(np.float32),
        "value": float(np.quantile(image * 100, draw(st.floats(0.2, 0.9)))),
        "axes": draw(st.sampled_from(["yx", "cyx"])) if ndim == 2 else "zyx",
        "tile": tile,
        "overlap": [draw(st.integers(0, min(t - 1, 2))) for t in tile],
        "pyramid": {"levels": levels, "downscale": factor, "downscale_z": downscale_z,
                    "method": draw(st.sampled_from(["mode", "nearest"]))},
        "connectivity": draw(st.integers(1, ndim)),
        "version": draw(st.sampled_from(["0.4", "0.5"])),
    }


@settings(max_examples=80, deadline=None)
@given(case=cases())
def test_levels_equal_whole_image_downsampling(case: dict[str, Any]) -> None:
    """Each level equals whole-image iterated downsampling of level 0, with shape ceil(shape / f^k)."""
    axes, image, pyr = case["axes"], case["image"], case["pyramid"]
    data = image[None] if axes.startswith("c") else image
    names = axes.replace("c", "")
    factors = tuple(1 if n == "z" and not pyr["downscale_z"] else pyr["downscale"] for n in names)
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "in.zarr"
        write_image(store, data, axes, version=case["version"])
        plan = local.run({
            "input": {"store": str(store)},
            "output": {"store": str(Path(tmp) / "labels.zarr")},  # any pyramid (in the image: its own)
            "workdir": str(Path(tmp) / "work"),
            "tiling": {"tile_shape": case["tile"], "overlap": case["overlap"]},
            "method": {"name": "threshold", "threshold": {"value": case["value"]}},
            "connectivity": case["connectivity"],
            "pyramid": pyr,
        })
        level_arrays = [np.asarray(plan.label_image.array(k, mode="r")[...]) for k in range(pyr["levels"])]
        assert not (plan.label_image.path / str(pyr["levels"])).exists()
    assert all(a.ndim == image.ndim for a in level_arrays)  # spatial axes only, also of a c/y/x image
    expected = level_arrays[0]
    np.testing.assert_array_equal(expected > 0, image > case["value"])
    for k, level in enumerate(level_arrays):
        assert level.shape == tuple(math.ceil(s / f**k) for s, f in zip(image.shape, factors))
        np.testing.assert_array_equal(level, expected, err_msg=f"level {k}")
        expected = downsample(expected, factors, pyr["method"])


def test_z_keeps_full_resolution_by_default(tmp_path: Path) -> None:
    """Without downscale_z, z keeps its size at every level while y and x shrink."""
    image = np.zeros((5, 20, 21), dtype=np.uint8)
    image[:, 3:9, 4:15] = 1
    write_image(tmp_path / "in.zarr", image, "zyx")
    plan = local.run({
        "input": {"store": str(tmp_path / "in.zarr")},
        "output": {"store": str(tmp_path / "labels.zarr")},
        "workdir": str(tmp_path / "work"),
        "tiling": {"tile_shape": [2, 8, 8]},
        "method": {"threshold": {"value": 0}},
        "pyramid": {"levels": 3},
    })
    shapes = [plan.label_image.array(k, mode="r").shape for k in range(3)]
    assert shapes == [(5, 20, 21), (5, 10, 11), (5, 5, 6)]
    assert plan.label_image.factors == (1, 2, 2)


# downsample on hand-written arrays ------------------------------------------------------------


@pytest.mark.parametrize(("block", "expected"), [
    ([3, 3, 3, 5], 3),  # most frequent
    ([0, 0, 0, 5], 0),  # background can win when most frequent
    ([0, 0, 5, 5], 5),  # tie: label over background
    ([7, 7, 5, 5], 5),  # tie between labels: the smaller
    ([0, 9, 7, 8], 7),  # all once: smallest label
    ([4, 0, 0, 4], 4),
])
def test_mode_of_one_block(block: list[int], expected: int) -> None:
    """Mode takes the most frequent value; ties prefer a label over 0, then the smaller label."""
    arr = np.array(block, dtype=np.uint32).reshape(2, 2)
    out = downsample(arr, (2, 2), "mode")
    assert out.shape == (1, 1) and out.dtype == arr.dtype
    assert out[0, 0] == expected


def test_mode_2d_blocks_and_edge_padding() -> None:
    """Blocks are taken per axis; the ragged end repeats its edge voxels before the vote."""
    arr = np.array([
        [1, 1, 2, 0, 4],
        [1, 3, 2, 2, 0],
        [0, 0, 5, 6, 7],
    ], dtype=np.uint16)
    # blocks: [[1,1,1,3], [2,0,2,2], [4,4,0,0]], [[0,0,0,0], [5,6,5,6], [7,7,7,7]]
    np.testing.assert_array_equal(downsample(arr, (2, 2), "mode"), [[1, 2, 4], [0, 5, 7]])


def test_mode_factor_one_axis_and_3d() -> None:
    """A factor of 1 leaves its axis alone; 3-D blocks vote over all their voxels."""
    arr = np.zeros((2, 3, 3), dtype=np.uint32)
    arr[0, :2, :2] = [[8, 8], [9, 0]]
    arr[1, :2, :2] = [[0, 9], [0, 9]]
    per_plane = downsample(arr, (1, 2, 2), "mode")
    assert per_plane.shape == (2, 2, 2)
    np.testing.assert_array_equal(per_plane[:, 0, 0], [8, 9])
    whole = downsample(arr, (2, 2, 2), "mode")  # first block: 9 x3, 0 x3, 8 x2
    assert whole.shape == (1, 2, 2)
    assert whole[0, 0, 0] == 9


def test_nearest_keeps_first_voxel() -> None:
    """Nearest keeps the first voxel of each block, also of the ragged last block."""
    arr = np.arange(1, 36, dtype=np.uint32).reshape(5, 7)
    np.testing.assert_array_equal(downsample(arr, (2, 3), "nearest"), arr[[0, 2, 4]][:, [0, 3, 6]])
    np.testing.assert_array_equal(downsample(arr, (3, 1), "nearest"), arr[[0, 3]])


def test_unknown_method_is_rejected() -> None:
    """An unknown method name is a ValueError naming the choices."""
    with pytest.raises(ValueError, match="mode"):
        downsample(np.zeros((2, 2), dtype=np.uint8), (2, 2), "mean")


@settings(max_examples=60, deadline=None)
@given(shape=st.tuples(st.integers(1, 9), st.integers(1, 7), st.integers(1, 7)),
       factors=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
       slab_bytes=st.integers(1, 200), seed=st.integers(0, 2**16))
def test_mode_by_slabs_equals_mode_of_the_whole(shape: tuple[int, ...], factors: tuple[int, ...],
                                                slab_bytes: int, seed: int) -> None:
    """The mode is taken a slab of blocks at a time (for the CPU's cache): the same result as one vote
    over the whole array, whatever the slab size, factors and ragged ends."""
    arr = np.random.default_rng(seed).integers(0, 4, shape).astype(np.uint32)  # few values: many ties
    whole = block_modes(arr, factors)
    with mock.patch.object(ds, "SLAB_BYTES", slab_bytes):
        assert np.array_equal(downsample(arr, factors, "mode"), whole)


def _mode_block_by_block(arr: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """The mode, one block at a time by counting: the rule written out, for comparison."""
    padded = np.pad(arr, [(0, -s % f) for s, f in zip(arr.shape, factors)], mode="edge")
    out = np.empty([-(-s // f) for s, f in zip(arr.shape, factors)], dtype=arr.dtype)
    for index in np.ndindex(*out.shape):
        block = padded[tuple(slice(i * f, (i + 1) * f) for i, f in zip(index, factors))]
        values, counts = np.unique(block, return_counts=True)
        out[index] = max(zip(counts, values != 0, -values.astype(np.int64), values))[3]
    return out


@settings(max_examples=150, deadline=None)
@given(shape=st.lists(st.integers(1, 7), min_size=1, max_size=4),
       factors=st.lists(st.integers(1, 3), min_size=4, max_size=4),
       dtype=st.sampled_from([np.uint8, np.uint16, np.uint32, np.uint64, np.int32]),
       fortran=st.booleans(), seed=st.integers(0, 2**16))
def test_mode_equals_the_rule_block_by_block(shape: list[int], factors: list[int], dtype: type,
                                             fortran: bool, seed: int) -> None:
    """``downsample``'s mode is each block's most frequent value, ties to a label over background and
    then to the smaller label, for 1-D to 4-D arrays, every dtype, ragged ends, and arrays that are
    not C-contiguous (the mixed blocks are gathered from a flat copy)."""
    arr = np.random.default_rng(seed).integers(0, 4, shape).astype(dtype)  # few values: many ties
    if fortran:
        arr = np.asfortranarray(arr)
    factors_ = tuple(factors[:len(shape)])
    np.testing.assert_array_equal(downsample(arr, factors_, "mode"), _mode_block_by_block(arr, factors_))
