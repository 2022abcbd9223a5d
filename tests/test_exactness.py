"""Tiled threshold segmentation equals whole-image connected components, up to renumbering."""

from __future__ import annotations

import math
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from patchworks.errors import ConfigError
from patchworks.io import atomic
from patchworks.io.images import write_image
from patchworks.methods.threshold import label_above, smoothing_radius
from patchworks.pipeline import local
from patchworks.pipeline.plan import Plan


def reference(image: np.ndarray, value: float, connectivity: int) -> tuple[np.ndarray, int]:
    """Whole-image connected components of ``image > value``."""
    structure = ndimage.generate_binary_structure(image.ndim, connectivity)
    labels, n = ndimage.label(image > value, structure=structure)
    return labels, int(n)


def assert_same_labels(ref: np.ndarray, ours: np.ndarray) -> None:
    """Same background, a bijection between the label sets, and ids exactly 1..N."""
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(ours == 0, ref == 0)
    pairs = np.unique(np.stack([ref.ravel(), ours.ravel()]), axis=1)
    pairs = pairs[:, pairs[0] > 0]
    assert len(np.unique(pairs[0])) == pairs.shape[1], "one object of scipy split into several"
    assert len(np.unique(pairs[1])) == pairs.shape[1], "several objects of scipy merged into one"
    ids = np.unique(ours)
    np.testing.assert_array_equal(ids[ids > 0], np.arange(1, int(ref.max()) + 1))


def segment(
    root: Path,
    data: np.ndarray,
    axes: str,
    value: float,
    connectivity: int,
    *,
    tile: list[int] | int,
    overlap: list[int] | int = 0,
    version: str = "0.5",
    channel: int = 0,
    chunks: tuple[int, ...] | None = None,
    tiling: dict[str, Any] | None = None,
    dtype: str = "uint32",
) -> tuple[np.ndarray, Plan]:
    """Write ``data`` as an OME-Zarr image under ``root``, run the pipeline, return level-0 labels."""
    store = root / "in.zarr"
    write_image(store, data, axes, version=version, chunks=chunks)
    config = {
        "input": {"store": str(store), "channel": channel},
        "workdir": str(root / "work"),
        "output": {"dtype": dtype},
        "tiling": {"tile_shape": tile, "overlap": overlap, **(tiling or {})},
        "method": {"name": "threshold", "threshold": {"value": value}},
        "connectivity": connectivity,
        "pyramid": {"levels": 1},
    }
    plan = local.run(config)
    arr = plan.label_image.array(0, mode="r")
    assert arr.dtype == np.dtype(dtype)
    assert arr.shape == tuple(s for a, s in zip(axes, data.shape) if a != "c")  # spatial axes only
    return np.asarray(arr[...]), plan


def one_number_if_same(values: list[int]) -> int | list[int]:
    """The config's short form (one number for every axis) when all entries are equal."""
    return values[0] if len(set(values)) == 1 else values


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    """An image, a threshold and a tiling of it (geometry, overlap, empty tiles, format)."""
    ndim = draw(st.sampled_from([2, 3]))
    axes = draw(st.sampled_from(["yx", "cyx"])) if ndim == 2 else "zyx"
    size, max_tiles = (40, 4) if ndim == 2 else (12, 3)
    shape = tuple(draw(st.integers(1, size)) for _ in range(ndim))
    lowest = math.ceil(max(shape) / max_tiles)
    if lowest <= min(shape) and draw(st.integers(0, 4)) == 0:  # the same tile size on every axis
        tile = [draw(st.integers(lowest, min(shape)))] * ndim
    else:
        tile = [s if draw(st.integers(0, 3)) == 0 else draw(st.integers(math.ceil(s / max_tiles), s))
                for s in shape]
    overlap = [draw(st.integers(0, min(t - 1, 3))) for t in tile]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # values 1..100; smoothing gives large compact blobs, raw noise many small objects
    field = rng.random(shape)
    sigma = draw(st.sampled_from([0.0, 0.0, 1.0, 2.0]))
    if sigma:
        field = ndimage.gaussian_filter(field, sigma)
        field = (field - field.min()) / max(np.ptp(field), 1e-12)
    image = (1 + np.floor(field * 99.999)).astype(draw(st.sampled_from([np.uint8, np.float32])))
    value = draw(st.integers(0, 97)) + draw(st.sampled_from([0.0, 0.5]))
    # blank whole tile cores, making empty tiles (their halos may still hold foreground)
    counts = [math.ceil(s / t) for s, t in zip(shape, tile)]
    for index in np.ndindex(*counts):
        if draw(st.booleans()):
            image[tuple(slice(i * t, (i + 1) * t) for i, t in zip(index, tile))] = 0
    skip_empty = draw(st.booleans())
    tiling = {"skip_empty": skip_empty}
    if skip_empty:
        tiling["empty_threshold"] = draw(st.sampled_from([0, 0.0, value, value / 2]))
    n_channels = draw(st.integers(1, 2)) if axes.startswith("c") else 1
    channel = draw(st.integers(0, n_channels - 1))
    data = image
    if axes.startswith("c"):
        data = np.stack([image if c == channel else rng.integers(0, 100, shape).astype(image.dtype)
                         for c in range(n_channels)])
    chunks = tuple(draw(st.integers(1, s)) for s in data.shape)
    return {
        "image": image, "data": data, "axes": axes, "value": value,
        "tile": one_number_if_same(tile), "overlap": one_number_if_same(overlap),
        "tiling": tiling, "channel": channel, "chunks": chunks,
        "connectivity": draw(st.integers(1, ndim)), "version": draw(st.sampled_from(["0.4", "0.5"])),
    }


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_threshold_labels_equal_scipy(case: dict[str, Any]) -> None:
    """Any tiling, overlap, empty-tile skipping and NGFF version gives scipy's components exactly."""
    ref, n = reference(case["image"], case["value"], case["connectivity"])
    with tempfile.TemporaryDirectory() as tmp:
        ours, plan = segment(
            Path(tmp), case["data"], case["axes"], case["value"], case["connectivity"],
            tile=case["tile"], overlap=case["overlap"], version=case["version"], channel=case["channel"],
            chunks=case["chunks"], tiling=case["tiling"],
        )
        assert atomic.read_json(plan.paths.published)["objects"] == n
    assert_same_labels(ref, ours)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), sigma=st.sampled_from([0.0, 1.0]))
def test_halo_cut_to_the_reach_keeps_every_id(case: dict[str, Any], sigma: float) -> None:
    """The threshold method reads only the halo its labels depend on (none without smoothing); its
    labels, ids included, equal those of the same function given the whole overlap (the Python API's
    path for a function that declares no reach)."""
    tiles = case["tile"] if isinstance(case["tile"], list) else [case["tile"]] * case["image"].ndim
    reach = smoothing_radius(sigma)
    if min(tiles) <= reach:
        sigma, reach = 0.0, 0
    overlap = case["overlap"] if isinstance(case["overlap"], list) else [case["overlap"]] * len(tiles)
    overlap = [max(o, reach) for o in overlap]
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "in.zarr"
        write_image(store, case["data"], case["axes"], version=case["version"], chunks=case["chunks"])
        whole = partial(label_above, value=case["value"], connectivity=case["connectivity"], sigma=sigma)
        results = []
        for name, fn in (("method", None), ("whole-overlap", whole)):
            config = {
                "input": {"store": str(store), "channel": case["channel"]},
                "workdir": str(Path(tmp) / f"work-{name}"),
                "output": {"label_name": name, "store": str(Path(tmp) / f"{name}.zarr")},
                "tiling": {"tile_shape": tiles, "overlap": overlap, **case["tiling"]},
                "method": {"name": "threshold", "threshold": {"value": case["value"], "smooth_sigma": sigma}},
                "connectivity": case["connectivity"],
                "pyramid": {"levels": 1},
            }
            results.append(np.asarray(local.run(config, fn=fn).label_image.array(0, mode="r")[...]))
    np.testing.assert_array_equal(results[0], results[1])


@settings(max_examples=300, deadline=None)
@given(ndim=st.sampled_from([2, 3]), data=st.data())
def test_tile_labels_number_objects_as_scipy_does(ndim: int, data: st.DataObject) -> None:
    """The threshold method's tile labels (cc3d where it numbers alike, else scipy) equal
    ``scipy.ndimage.label`` exactly, ids included, for every connectivity: the staged labels, and so
    the final ids, do not depend on which library labelled the tile."""
    shape = tuple(data.draw(st.integers(1, 24)) for _ in range(ndim))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    image = ndimage.gaussian_filter(rng.random(shape), data.draw(st.sampled_from([0.0, 1.0])))
    value = float(np.quantile(image, data.draw(st.floats(0.1, 0.95))))
    connectivity = data.draw(st.integers(1, ndim))
    expected, _ = reference(image, value, connectivity)
    np.testing.assert_array_equal(label_above(image, value, connectivity), expected)


@pytest.mark.parametrize("value", [-1, -0.5, 0, 0.5, 1])
def test_mask_is_thresholded_as_its_values_0_and_1(value: float) -> None:
    """A bool image's voxels are 0 and 1 to any threshold (not the threshold cast to bool: 0.5 is True)."""
    mask = np.array([[True, False, True], [False, False, True]])
    np.testing.assert_array_equal(label_above(mask, value, 1) > 0, mask.astype(np.uint8) > value)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), value=st.integers(0, 100), dtype=st.sampled_from(["uint8", "uint16"]))
def test_small_output_dtype_holds_ids_or_stops(seed: int, value: int, dtype: str) -> None:
    """A narrow output dtype either holds every id exactly or the run stops with a ConfigError."""
    image = np.zeros((40, 40), dtype=np.uint8)
    image[::2, ::2] = np.random.default_rng(seed).integers(1, 101, (20, 20))  # 0..400 isolated objects
    ref, n = reference(image, value, 2)
    with tempfile.TemporaryDirectory() as tmp:
        if n > np.iinfo(dtype).max:
            with pytest.raises(ConfigError, match="output.dtype"):
                segment(Path(tmp), image, "yx", value, 2, tile=[20, 14], dtype=dtype)
            return
        ours, _ = segment(Path(tmp), image, "yx", value, 2, tile=[20, 14], dtype=dtype)
    assert_same_labels(ref, ours)


# one object through every tile -----------------------------------------------------------------


def comb_2d(shape: tuple[int, int]) -> np.ndarray:
    """A spine along the first row with one-voxel teeth down every other column."""
    img = np.zeros(shape, dtype=np.uint8)
    img[0, :] = 1
    img[:, ::2] = 1
    return img


def comb_3d(shape: tuple[int, int, int]) -> np.ndarray:
    """2-D combs on every other z plane, joined by a spine column along z."""
    img = np.zeros(shape, dtype=np.uint8)
    img[::2] = comb_2d(shape[1:])
    img[:, 0, 0] = 1
    return img


def spiral(n: int) -> np.ndarray:
    """A one-voxel-wide square spiral with one-voxel gaps, from the corner of an ``n`` x ``n`` image."""
    img = np.zeros((n, n), dtype=np.uint8)
    y, x = 0, 0
    img[y, x] = 1
    lengths = [n - 1, n - 1] + [n - 1 - 2 * ((k - 1) // 2) for k in range(2, 2 * n)]
    for step, length in enumerate(lengths):
        if length <= 0:
            break
        dy, dx = [(0, 1), (1, 0), (0, -1), (-1, 0)][step % 4]
        for _ in range(length):
            y, x = y + dy, x + dx
            img[y, x] = 1
    return img


SINGLE_OBJECT = [
    ("comb-2d", comb_2d((31, 29)), "yx", [7, 6], 0, 1),
    ("comb-2d-overlap", comb_2d((31, 29)), "yx", [5, 8], [2, 3], 2),
    ("comb-3d", comb_3d((12, 11, 11)), "zyx", [5, 4, 3], 0, 1),
    ("comb-3d-overlap", comb_3d((12, 11, 11)), "zyx", [4, 5, 4], 1, 3),
    ("spiral", spiral(37), "yx", [6, 7], 0, 1),
    ("spiral-overlap", spiral(37), "yx", [10, 9], 4, 2),
]


def test_spiral_is_one_long_path() -> None:
    """The spiral fixture is one 4-connected path: two ends, every other voxel with two neighbours."""
    img = spiral(37)
    neighbours = ndimage.convolve(img.astype(int), [[0, 1, 0], [1, 0, 1], [0, 1, 0]], mode="constant")
    np.testing.assert_array_equal(np.bincount(neighbours[img == 1]), [0, 2, img.sum() - 2])
    assert img.sum() > 37 * 37 // 2


@pytest.mark.parametrize(("name", "image", "axes", "tile", "overlap", "connectivity"), SINGLE_OBJECT,
                         ids=[c[0] for c in SINGLE_OBJECT])
def test_one_object_through_every_tile(
    tmp_path: Path, name: str, image: np.ndarray, axes: str, tile: list[int],
    overlap: list[int] | int, connectivity: int,
) -> None:
    """An object that enters every tile and winds between them comes out as a single label."""
    ref, n = reference(image, 0, connectivity)
    assert n == 1
    ours, plan = segment(tmp_path, image, axes, 0, connectivity, tile=tile, overlap=overlap)
    assert plan.grid.n_tiles > 4
    assert all(image[plan.grid.core(t)].any() for t in range(plan.grid.n_tiles))
    assert_same_labels(ref, ours)


def diagonals(shape: tuple[int, ...]) -> np.ndarray:
    """Voxels whose coordinate sum is a multiple of ``ndim``: touching only through edges/corners."""
    return (np.indices(shape).sum(axis=0) % len(shape) == 0).astype(np.uint8)


@pytest.mark.parametrize(("shape", "tile", "overlap"), [
    ((23, 19), [5, 7], 0), ((23, 19), [8, 19], [3, 0]), ((23, 19), [23, 4], 2),
    ((10, 11, 9), [4, 4, 4], 0), ((10, 11, 9), [3, 11, 5], [2, 0, 1]),
])
def test_corner_only_pattern_depends_on_connectivity(
    tmp_path: Path, shape: tuple[int, ...], tile: list[int], overlap: list[int] | int,
) -> None:
    """A pattern joined only through edges/corners gives different, each exact, labels per connectivity."""
    image = diagonals(shape)
    results = []
    for connectivity in range(1, len(shape) + 1):
        ref, _ = reference(image, 0, connectivity)
        ours, _ = segment(tmp_path / str(connectivity), image, "yx" if len(shape) == 2 else "zyx", 0,
                          connectivity, tile=tile, overlap=overlap)
        assert_same_labels(ref, ours)
        results.append(ours.max())
    assert len(set(results)) == len(results), f"object counts per connectivity: {results}"
