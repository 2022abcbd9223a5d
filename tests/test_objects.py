"""The object table and the size filter (in-process runs of the workflow's steps, ``pipeline.local``).

The table, built from per-tile partial measurements combined through the relabel table, must equal
``skimage.measure.regionprops_table`` of the whole label image, for objects crossing tiles, 2-D and
3-D, every connectivity; the size filter must equal filtering the whole-image labels by volume.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage
from skimage.measure import regionprops_table
from skimage.segmentation import relabel_sequential
from test_exactness import assert_same_labels, reference

from patchworks.errors import ConfigError
from patchworks.io import atomic
from patchworks.io.images import write_image
from patchworks.measure.tile import measure_tile
from patchworks.pipeline import local
from patchworks.pipeline.config import validate_config

PROPERTIES = ("label", "area", "centroid", "bbox", "intensity_mean", "intensity_min", "intensity_max")
KINDS = ("bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float16",
         "float32", "float64")
#: Every type an image can have, in both byte orders (one-byte types have none).
DTYPES = list(dict.fromkeys(np.dtype(kind).newbyteorder(order) for kind in KINDS for order in "<>"))


def image_of(field: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``field`` (values 0..1) as an image of ``dtype``: a mask of its upper half (bool), else spread
    over -100..1000 (signed and float types: negative values too) or 1..1000, within the type."""
    if dtype.kind == "b":
        return field > 0.5
    low = 1 if dtype.kind == "u" else -100
    high = min(1000, np.iinfo(dtype).max) if dtype.kind in "iu" else 1000
    return (low + field * (high - low)).astype(dtype)


def threshold_of(image: np.ndarray, quantile: float) -> float:
    """A threshold that leaves part of ``image`` above it: 0 for a mask."""
    return 0 if image.dtype.kind == "b" else float(np.quantile(image, quantile))


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    """An image (2-D with 1-2 channels, or 3-D), a threshold, tiles that cut objects, a calibration."""
    ndim = draw(st.sampled_from([2, 3]))
    size = 36 if ndim == 2 else 12
    shape = tuple(draw(st.integers(4, size)) for _ in range(ndim))
    tile = [draw(st.integers(max(1, math.ceil(s / 4)), s)) for s in shape]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    field = ndimage.gaussian_filter(rng.random(shape), draw(st.sampled_from([0.0, 1.0, 2.0])))
    field = (field - field.min()) / max(np.ptp(field), 1e-12)
    dtype = draw(st.sampled_from(DTYPES))
    image = image_of(field, dtype)
    channels = draw(st.integers(1, 2)) if ndim == 2 else 1
    channel = draw(st.integers(0, channels - 1))
    axes = ("cyx" if draw(st.booleans()) or channels > 1 else "yx") if ndim == 2 else "zyx"
    data = image
    if axes.startswith("c"):
        data = np.stack([image if c == channel else image_of(rng.random(shape), dtype)
                         for c in range(channels)])
    scale = tuple(draw(st.sampled_from([0.25, 0.5, 1.0, 2.0])) for _ in range(ndim))
    return {"image": image, "data": data, "axes": axes, "channel": channel, "tile": tile,
            "overlap": [draw(st.integers(0, min(t - 1, 2))) for t in tile],
            "value": threshold_of(image, draw(st.floats(0.3, 0.9))),
            "connectivity": draw(st.integers(1, ndim)), "scale": scale,
            "version": draw(st.sampled_from(["0.4", "0.5"]))}


def run(root: Path, case: dict[str, Any], **more: Any) -> tuple[np.ndarray, Any, Any]:
    """The pipeline on the case's image: level-0 labels, the object table (pandas), the plan."""
    store = root / "in.zarr"
    full_scale = (1.0, *case["scale"]) if case["axes"].startswith("c") else case["scale"]
    write_image(store, case["data"], case["axes"], scale=full_scale, unit="micrometer",
                version=case["version"])
    plan = local.run({
        "input": {"store": str(store), "channel": case["channel"]},
        "workdir": str(root / "work"),
        "tiling": {"tile_shape": case["tile"], "overlap": case["overlap"]},
        "method": {"name": "threshold", "threshold": {"value": case["value"]}},
        "connectivity": case["connectivity"],
        "pyramid": {"levels": 1},
        **more,
    })
    published = atomic.read_json(plan.paths.published)
    assert Path(published["table"]) == plan.label_image.table_path
    assert os.path.samefile(published["table"], plan.paths.objects)  # one file system: linked, not copied
    table = pq.read_table(published["table"]).to_pandas()
    return np.asarray(plan.label_image.array(0, mode="r")[...]), table, plan


def tiles_spanned(labels: np.ndarray, tile: list[int], n: int) -> list[list[int]]:
    """For each label 1..n, the flat numbers of the tiles holding its voxels (from the label image)."""
    counts = [math.ceil(s / t) for s, t in zip(labels.shape, tile)]
    index = np.indices(labels.shape)
    flat = np.ravel_multi_index(tuple(i // t for i, t in zip(index, tile)), counts)
    fg = labels > 0
    pairs = np.unique(np.stack([labels[fg], flat[fg]]), axis=1)
    return [pairs[1, pairs[0] == i].tolist() for i in range(1, n + 1)]


def assert_table_matches(table: Any, labels: np.ndarray, image: np.ndarray, scale: tuple[float, ...],
                         tile: list[int]) -> None:
    """One row per label of ``labels``, each equal to regionprops of the whole label image (over the
    intensities as float64: its float16 means would be float16's); intensity min/max in the image's type
    in native byte order (a mask's as 0/1, uint8)."""
    names = "zyx"[-labels.ndim:]
    ref = regionprops_table(labels, image.astype(np.float64), properties=PROPERTIES)
    n = int(labels.max())
    np.testing.assert_array_equal(table["label"], np.arange(1, n + 1))
    np.testing.assert_array_equal(table["label"], ref["label"])
    np.testing.assert_array_equal(table["voxels"], ref["area"])
    np.testing.assert_allclose(table["volume"], ref["area"] * math.prod(scale))
    for i, axis in enumerate(names):
        np.testing.assert_allclose(table[f"centroid_{axis}"], ref[f"centroid-{i}"] * scale[i], rtol=1e-12)
        np.testing.assert_array_equal(table[f"bbox_start_{axis}"], ref[f"bbox-{i}"])
        np.testing.assert_array_equal(table[f"bbox_stop_{axis}"], ref[f"bbox-{i + labels.ndim}"])
    np.testing.assert_allclose(table["intensity_mean"], ref["intensity_mean"], rtol=1e-6)
    np.testing.assert_array_equal(table["intensity_min"], ref["intensity_min"])
    np.testing.assert_array_equal(table["intensity_max"], ref["intensity_max"])
    measured = np.dtype(np.uint8) if image.dtype.kind == "b" else image.dtype.newbyteorder("=")
    assert table["intensity_min"].dtype == table["intensity_max"].dtype == measured
    assert [list(t) for t in table["tiles"]] == tiles_spanned(labels, tile, n)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_table_equals_regionprops_of_the_whole_label_image(case: dict[str, Any]) -> None:
    """Voxels, volume, centroid (physical), bounding box, intensity mean/min/max (of the segmented
    channel) and tiles spanned, for every object, computed without reading the image twice."""
    with tempfile.TemporaryDirectory() as tmp:
        labels, table, _ = run(Path(tmp), case)
    ref, _ = reference(case["image"], case["value"], case["connectivity"])
    assert_same_labels(ref, labels)
    assert_table_matches(table, labels, case["image"], case["scale"], case["tile"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), low=st.floats(0, 0.6), high=st.floats(0, 1.0))
def test_size_filter_equals_filtering_whole_image_objects(case: dict[str, Any], low: float,
                                                          high: float) -> None:
    """Objects are kept by their whole volume (over all tiles they span), ids stay 1..N, the table
    holds the kept objects."""
    ref, n = reference(case["image"], case["value"], case["connectivity"])
    voxel = math.prod(case["scale"])
    volumes = np.bincount(ref.ravel())[1:] * voxel
    if n:  # min_volume <= max_volume, both between the smallest and largest objects' volumes
        smallest = float(volumes.min() + low * np.ptp(volumes))
        bounds = {"min_volume": smallest, "max_volume": smallest + high * (float(volumes.max()) - smallest)}
    else:
        bounds = {"min_volume": 1.0, "max_volume": None}
    kept = np.flatnonzero((volumes >= (bounds["min_volume"] or 0))
                          & (volumes <= (bounds["max_volume"] or np.inf))) + 1
    expected = relabel_sequential(np.where(np.isin(ref, kept), ref, 0))[0]
    with tempfile.TemporaryDirectory() as tmp:
        labels, table, plan = run(Path(tmp), case, filter=bounds)
        summary = atomic.read_json(plan.paths.cc)
    assert_same_labels(expected, labels)
    assert summary["objects"] == len(kept) and summary["filtered_out"] == n - len(kept)
    assert_table_matches(table, labels, case["image"], case["scale"], case["tile"])


@pytest.mark.parametrize("version", ["0.4", "0.5"])
@pytest.mark.parametrize("dtype", DTYPES, ids=[d.str for d in DTYPES])
def test_table_of_every_image_type_and_byte_order(tmp_path: Path, dtype: np.dtype, version: str) -> None:
    """A mask, signed (negative values too), unsigned and float images, little- and big-endian in zarr
    v2 (the array's dtype) and v3 (the bytes codec): whole-image labels and table, in native types."""
    rng = np.random.default_rng(11)
    field = ndimage.gaussian_filter(rng.random((13, 17)), 1.0)
    image = image_of((field - field.min()) / np.ptp(field), dtype)
    case = {"image": image, "data": image, "axes": "yx", "channel": 0, "tile": [5, 6], "overlap": [1, 1],
            "value": threshold_of(image, 0.6), "connectivity": 2, "scale": (0.5, 2.0), "version": version}
    labels, table, plan = run(tmp_path, case)
    if dtype.byteorder == ">":  # stored big-endian: zarr v2 says so in its dtype, v3 in its bytes codec
        array = plan.source().array
        assert array.dtype == dtype if version == "0.4" else array.serializer.endian.value == "big"
    ref, n = reference(image, case["value"], 2)
    assert n > 1
    assert_same_labels(ref, labels)
    assert_table_matches(table, labels, image, case["scale"], case["tile"])


def test_filter_fragment_judged_by_its_whole_volume(tmp_path: Path) -> None:
    """A bar cut into pieces of 4 voxels by the tiles survives min_volume 10 (its whole 12), a lone
    5-voxel object does not; max_volume removes the bar instead."""
    image = np.zeros((3, 12), np.uint8)
    image[0, :] = 9
    image[2, 3:8] = 9
    case = {"image": image, "data": image, "axes": "yx", "channel": 0, "tile": [3, 4], "overlap": [0, 0],
            "value": 1, "connectivity": 1, "scale": (1.0, 1.0), "version": "0.5"}
    labels, table, _ = run(tmp_path / "min", case, filter={"min_volume": 10})
    np.testing.assert_array_equal(labels, (image[0:1] > 0).repeat(3, 0) * [[1], [0], [0]])
    assert table["voxels"].tolist() == [12] and [list(t) for t in table["tiles"]] == [[0, 1, 2]]
    labels, table, _ = run(tmp_path / "max", case, filter={"max_volume": 10})
    np.testing.assert_array_equal(labels, (image > 0) * [[0], [0], [1]])
    assert table["voxels"].tolist() == [5]


def test_filter_bounds_checked_before_any_job() -> None:
    with pytest.raises(ConfigError, match="filter.min_volume"):
        validate_config({"input": {"store": "x"}, "filter": {"min_volume": 5, "max_volume": 1}})


def test_table_is_placed_by_a_hard_link_on_one_file_system_else_copied(tmp_path: Path) -> None:
    """``atomic.copy`` (publish's placing of the object table) links on one file system and copies to
    another (tmpfs); the work directory's table, replaced whole by a later run, leaves the placed one
    as it was."""
    work = tmp_path / "objects.parquet"
    work.write_bytes(b"first table")
    atomic.copy(work, tmp_path / "labels" / "objects.parquet")
    assert os.path.samefile(work, tmp_path / "labels" / "objects.parquet")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        assert os.stat(other).st_dev != os.stat(tmp_path).st_dev
        atomic.copy(work, Path(other) / "objects.parquet")
        assert not os.path.samefile(work, Path(other) / "objects.parquet")
        assert (Path(other) / "objects.parquet").read_bytes() == b"first table"
    atomic.write_text(work, "second table")
    assert (tmp_path / "labels" / "objects.parquet").read_bytes() == b"first table"
    assert not list(tmp_path.glob("**/.*.tmp"))


def test_staged_labels_measure_the_image(tmp_path: Path) -> None:
    """With method staged the tiles read are labels: the table's intensities come from the image."""
    image = (ndimage.gaussian_filter(np.random.default_rng(3).random((30, 34)), 1.5) * 1000).astype(np.uint16)
    value = float(np.quantile(image, 0.7))
    write_image(tmp_path / "in.zarr", image, "yx", scale=(0.5, 0.5), unit="micrometer")
    per_tile = np.zeros(image.shape, np.uint32)
    for y in range(0, 30, 10):
        for x in range(0, 34, 12):
            per_tile[y:y + 10, x:x + 12] = ndimage.label(image[y:y + 10, x:x + 12] > value)[0]
    staged = zarr.create_array(str(tmp_path / "mine.zarr"), shape=image.shape, dtype=np.uint32,
                               chunks=(10, 12))
    staged[...] = per_tile
    plan = local.run({"input": {"store": str(tmp_path / "in.zarr")}, "workdir": str(tmp_path / "work"),
                      "output": {"store": str(tmp_path / "out.zarr")},
                      "tiling": {"tile_shape": [10, 12]}, "pyramid": {"levels": 1},
                      "method": {"name": "staged", "staged": {"store": str(tmp_path / "mine.zarr")}}})
    labels = np.asarray(plan.label_image.array(0, mode="r")[...])
    assert_same_labels(reference(image, value, 1)[0], labels)
    table = pq.read_table(plan.label_image.table_path).to_pandas()
    assert_table_matches(table, labels, image, (0.5, 0.5), [10, 12])


def test_measure_tile_by_slabs_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Measuring a tile a few voxels at a time (as for big tiles) gives the same partials."""
    rng = np.random.default_rng(5)
    labels = relabel_sequential(ndimage.label(rng.random((9, 10, 11)) > 0.6)[0])[0].astype(np.uint32)
    values = rng.integers(0, 60000, labels.shape).astype(np.uint16)
    whole = measure_tile(labels, values, (3, 20, 100))
    monkeypatch.setattr("patchworks.measure.tile.SLAB_VOXELS", 7)
    sliced = measure_tile(labels, values, (3, 20, 100))
    for name in ("count", "coord_sum", "bbox_start", "bbox_stop", "intensity_sum", "intensity_min",
                 "intensity_max"):
        np.testing.assert_allclose(getattr(sliced, name), getattr(whole, name), err_msg=name)
    assert whole.intensity_min.dtype == np.uint16 and whole.n == labels.max()


@pytest.mark.parametrize("order", ["raster", "shuffled"])
@pytest.mark.parametrize(("shape", "dtype"),
                         [((6, 13, 17), np.uint16), ((13, 17), np.float32), ((40,), np.int16)])
def test_measure_tile_equals_scipy_for_ids_in_any_order(order: str, shape: tuple[int, ...], dtype: type,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Each slab only touches the ids it holds; ids in any order (a model's, not raster) still measure
    exactly as scipy's per-label functions over the whole tile, in 1-D to 3-D, for integer and float
    intensities (runs along the last axis end at each row's end and at each slab's)."""
    rng = np.random.default_rng(7)
    labels = ndimage.label(rng.random(shape) > 0.55)[0].astype(np.uint32)
    n = int(labels.max())
    if order == "shuffled":
        labels = np.concatenate([[0], rng.permutation(n) + 1]).astype(np.uint32)[labels]
    values = (rng.random(shape) * 60000 - (20000 if dtype == np.int16 else 0)).astype(dtype)
    monkeypatch.setattr("patchworks.measure.tile.SLAB_VOXELS", 50)
    origin = (4, 30, 200)[-len(shape):]
    got = measure_tile(labels, values, origin)
    index = np.arange(1, n + 1)
    np.testing.assert_array_equal(got.count, ndimage.sum_labels(np.ones_like(labels), labels, index))
    boxes = ndimage.find_objects(labels)
    np.testing.assert_array_equal(got.bbox_start.T, [[s.start + o for s, o in zip(b, origin)] for b in boxes])
    np.testing.assert_array_equal(got.bbox_stop.T, [[s.stop + o for s, o in zip(b, origin)] for b in boxes])
    centre = np.array(ndimage.center_of_mass(np.ones_like(labels), labels, index)).reshape(n, -1) + origin
    np.testing.assert_allclose(got.coord_sum.T / got.count[:, None], centre, rtol=1e-12)
    total = ndimage.sum_labels(values.astype(np.float64), labels, index)
    if dtype == np.float32:  # float sums in another order: equal to rounding
        np.testing.assert_allclose(got.intensity_sum, total, rtol=1e-12)
    else:
        np.testing.assert_array_equal(got.intensity_sum, total)
    np.testing.assert_array_equal(got.intensity_min, ndimage.minimum(values, labels, index))
    np.testing.assert_array_equal(got.intensity_max, ndimage.maximum(values, labels, index))
