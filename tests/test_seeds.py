"""Every code example of the seeds (the ``tile_process`` API page and the library's README) run as
written, apart from file names and sizes, against small real OME-Zarr images; then what each
example promises is checked. Where an example calls a ``fn`` it does not define, ``fn`` is the
fixed-threshold labelling below, so the labels can be checked exactly against the whole image.

The Cellpose and StarDist examples run in the models' environment (tests/test_seed_models.py),
the napari example in tests/test_napari.py (tests/seeds.md lists them all).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
from runs import blobs
from scipy import ndimage
from test_exactness import assert_same_labels

from patchworks.io import atomic
from patchworks.io.images import write_image

SHAPE = (2, 96, 96)  # z, y, x; chunks (1, 32, 32); 3 levels (y/x halved)
VALUE = 100


def fn(tile: np.ndarray) -> np.ndarray:
    """The ``fn`` the seeds' examples leave to the reader: a pointwise threshold, then connected
    components (so tiled-and-merged labels must equal whole-image labelling)."""
    return ndimage.label(tile > VALUE)[0]


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    """Bright spots in the left half (x < 48), nothing in the right half: some tiles are empty."""
    img = blobs(SHAPE, seed=11)
    img[..., 48:] = 0
    return img


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, data: np.ndarray) -> Path:
    store = tmp_path_factory.mktemp("seeds") / "image.zarr"
    write_image(store, data, "zyx", levels=3, chunks=(1, 32, 32), scale=(2.0, 0.5, 0.5), unit="micrometer")
    return store


@pytest.fixture
def image(tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the image as ``image.zarr`` in the current directory, as the examples name it."""
    shutil.copytree(source, tmp_path / "image.zarr")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "image.zarr"


def whole(data: np.ndarray) -> np.ndarray:
    return ndimage.label(data > VALUE)[0]


def check_result(result, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    """The documented return value: a lazy int32 dask array of the image's spatial shape, ids 1..N."""
    import dask.array as da

    assert isinstance(result, da.Array)
    assert result.dtype == np.int32 and result.shape == shape
    labels = result.compute()
    ids = np.unique(labels)
    np.testing.assert_array_equal(ids[ids > 0], np.arange(1, int(labels.max()) + 1))
    return labels


def written_to(store: str, component: str = "labels") -> np.ndarray:
    """``write_to``: a single-resolution array named ``output_component`` in that store."""
    group = zarr.open_group(store, mode="r")
    assert list(group.array_keys()) == [component] and not list(group.group_keys())
    array = group[component]
    assert array.dtype == np.int32 and array.shape == SHAPE
    return array[...]


def pyramid_in_image(image: Path, name: str = "labels") -> np.ndarray:
    """The default: an NGFF label pyramid in the input store, listed, as many levels as the image."""
    labels = zarr.open_group(str(image / "labels"), mode="r")
    assert labels.attrs["ome"]["labels"] == [name]
    group = labels[name]
    ms = group.attrs["ome"]["multiscales"][0]
    assert [d["path"] for d in ms["datasets"]] == ["0", "1", "2"]
    assert [group[str(k)].shape for k in range(3)] == [SHAPE, (2, 48, 48), (2, 24, 24)]
    return group["0"][...]


# tile_process API page (seed 000) ------------------------------------------------------------------


def test_api_page_tile_shape_callable(image: Path, data: np.ndarray) -> None:
    """``tile_shape=partial(auto_tile_shape_cellpose, diameter=30, use_gpu=True)``: no GPU here, so a
    warning and tiles sized against this machine's memory."""
    with pytest.warns(UserWarning, match="no GPU"):
        from functools import partial
        from patchworks import auto_tile_shape_cellpose, tile_process
        tile_fn = partial(auto_tile_shape_cellpose, diameter=30, use_gpu=True)
        result = tile_process("image.zarr", fn, tile_shape=tile_fn)
    assert_same_labels(whole(data), check_result(result))
    np.testing.assert_array_equal(pyramid_in_image(image), result.compute())


def test_api_page_any_threshold_function(image: Path) -> None:
    """The Otsu example (a per-tile threshold, so only the contract is checked): write_to."""
    from patchworks import tile_process

    from skimage.filters import threshold_otsu
    from skimage.measure import label

    def my_fn(tile):
        return label(tile > threshold_otsu(tile)).astype("int32")

    result = tile_process("image.zarr", my_fn, write_to="labels.zarr")
    labels = check_result(result)
    np.testing.assert_array_equal(written_to("labels.zarr"), labels)
    assert labels.max() > 10
    assert not (image / "labels").exists()


def test_api_page_write_directly_to_zarr(image: Path, data: np.ndarray,
                                         capsys: pytest.CaptureFixture) -> None:
    from patchworks import tile_process

    tile_process("image.zarr", fn, write_to="labels.zarr", progress=True)
    assert_same_labels(whole(data), written_to("labels.zarr"))
    bars = capsys.readouterr().err
    for step in ("stage", "write labels"):  # staging and the label write (no pyramid in write_to)
        assert f"{step}: 100%" in bars, bars


# README (seed 001) ------------------------------------------------------------------------------------


def test_readme_quick_start(image: Path) -> None:
    """Labels into the input store at image.zarr/labels/labels/ as a multi-scale pyramid; ``result``
    is a lazy dask array of the spatial shape with ids unique across tiles."""
    with pytest.warns(UserWarning, match="pyramid_levels=5: the image has 3"):
        from patchworks import tile_process
        def my_fn(tile):
            from skimage.filters import threshold_otsu
            from skimage.measure import label
            return label(tile > threshold_otsu(tile)).astype("int32")
        result = tile_process("image.zarr", my_fn)
    labels = check_result(result)
    np.testing.assert_array_equal(pyramid_in_image(image), labels)
    assert labels.max() > 10


def test_readme_custom_function(image: Path) -> None:
    """``tile_shape=(1, 512, 512)`` (one z-plane per tile, capped at the image's 96 x 96)."""
    import numpy as np
    from scipy.ndimage import gaussian_filter
    from skimage.measure import label
    from patchworks import tile_process
    def my_custom_fn(tile: np.ndarray) -> np.ndarray:
        smoothed = gaussian_filter(tile.astype("float32"), sigma=1.5)
        binary = smoothed > smoothed.mean()
        return label(binary).astype("int32")
    tile_process("image.zarr", my_custom_fn, tile_shape=(1, 512, 512))
    labels = pyramid_in_image(image)
    # one tile per z-plane, so my_custom_fn saw whole planes: each of its objects is one label (objects
    # touching across the z seam are joined), on the same foreground
    raw = zarr.open_array(str(image / "0"), mode="r")[...]
    for z in range(SHAPE[0]):
        ref = my_custom_fn(raw[z])
        np.testing.assert_array_equal(labels[z] > 0, ref > 0)
        pairs = np.unique(np.stack([ref.ravel(), labels[z].ravel()]), axis=1)
        assert len(np.unique(pairs[0])) == pairs.shape[1], "an object of my_custom_fn was split"


def test_readme_auto_tile_shape_on_gpu(image: Path, data: np.ndarray) -> None:
    """``tile_shape="auto", use_gpu=True`` without a GPU: a warning, then sized against memory."""
    with pytest.warns(UserWarning, match="no GPU"):
        from patchworks import tile_process
        tile_process("image.zarr", fn, tile_shape="auto", use_gpu=True)
    assert_same_labels(whole(data), pyramid_in_image(image))


def test_readme_skip_empty_tiles(image: Path, data: np.ndarray, capsys: pytest.CaptureFixture) -> None:
    """The estimate counts exactly the tiles the run then skips. Tiles (1, 32, 32), not (120, 697, 697)."""
    from patchworks import estimate_empty_tiles, tile_process
    info = estimate_empty_tiles("image.zarr", tile_shape=(1, 32, 32))
    print(f"{info['empty_fraction']:.0%} tiles are background — will be skipped")
    tile_process(
        "image.zarr",
        fn,
        tile_shape=(1, 32, 32),
        skip_empty=True,
        empty_threshold=info["threshold"],
        write_to="labels.zarr",
    )
    assert "33% tiles are background" in capsys.readouterr().out  # x >= 48 is empty: 6 of 18 tiles
    assert info["n_tiles"] == 18 and info["n_empty"] == 6 and info["exact"]
    assert info["threshold_from"] == "otsu"
    assert_same_labels(whole(data), written_to("labels.zarr"))


def test_readme_skip_empty_counts_equal_stage_records(image: Path, tmp_path: Path) -> None:
    """With keep_stage the stage records show which tiles were skipped: exactly the estimate's."""
    from patchworks import estimate_empty_tiles, tile_process

    info = estimate_empty_tiles("image.zarr", tile_shape=(1, 32, 32))
    tile_process("image.zarr", fn, tile_shape=(1, 32, 32), skip_empty=True, empty_threshold=info["threshold"],
                 write_to="labels.zarr", stage_dir=tmp_path / "stage", keep_stage=True, progress=False)
    records = [atomic.read_json(p) for p in sorted((tmp_path / "stage" / "labels" / "stage").glob("*.json"))]
    assert sorted(r["tile"] for r in records if r["skipped"]) == info["empty_tiles"]


def test_readme_dask_distributed(image: Path, data: np.ndarray) -> None:
    """A real LocalCluster (no GPU here: a warning, then CPU worker processes)."""
    with pytest.warns(UserWarning, match="no GPU"):
        from patchworks import make_local_cluster, tile_process
        client, cluster = make_local_cluster(use_gpu=True)
        try:
            tile_process("image.zarr", fn, write_to="labels.zarr", progress=True)
        finally:
            client.close()
            cluster.close()
    assert_same_labels(whole(data), written_to("labels.zarr"))


def test_readme_sequential_labels(image: Path, data: np.ndarray) -> None:
    from patchworks import tile_process
    # Labels are globally unique by default, but may be gappy (block-encoded IDs).
    # sequential_labels=True does a linear relabel O(voxels) — not O(n_tiles²).
    tile_process("image.zarr", fn, write_to="labels.zarr", sequential_labels=True)
    labels = written_to("labels.zarr")
    assert_same_labels(whole(data), labels)  # ids exactly 1..N


def test_readme_merge_from_dask_array(tmp_path: Path, data: np.ndarray,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Your own tiling + segmentation (per-tile ids restart at 1), merged: whole-image labels exactly.
    Here image.zarr is a plain zarr array (``da.from_zarr`` reads arrays); tiles (1, 32, 32)."""
    monkeypatch.chdir(tmp_path)
    zarr.create_array("image.zarr", shape=data.shape, dtype=data.dtype, chunks=(1, 16, 16))[...] = data

    def my_segment_fn(block):
        return ndimage.label(block > VALUE)[0].astype("int32")

    import dask.array as da
    import numpy as np
    from patchworks import merge_tile_labels
    # Your own tiling + segmentation
    image = da.from_zarr("image.zarr").rechunk((1, 32, 32))
    labeled = image.map_blocks(
        my_segment_fn, dtype="int32", meta=np.empty((0,) * image.ndim, dtype="int32")
    )
    merged = merge_tile_labels(labeled, write_to="labels.zarr", progress=True)
    assert_same_labels(whole(data), check_result(merged))
    np.testing.assert_array_equal(written_to("labels.zarr"), merged.compute())


def test_readme_merge_from_zarr_store(tmp_path: Path, data: np.ndarray,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-tile labels your pipeline wrote (its chunks are the tiles), merged: whole-image labels."""
    monkeypatch.chdir(tmp_path)
    raw = zarr.open_group("my_staged_labels.zarr", mode="w").create_array(
        "raw_labels", shape=data.shape, dtype=np.uint16, chunks=(1, 32, 32))
    for z in range(SHAPE[0]):
        for y in range(0, SHAPE[1], 32):
            for x in range(0, SHAPE[2], 32):
                raw[z, y:y + 32, x:x + 32] = fn(data[z, y:y + 32, x:x + 32])
    from patchworks import merge_tile_labels
    merged = merge_tile_labels(
        "my_staged_labels.zarr",
        input_component="raw_labels",
        write_to="merged.zarr",
        sequential_labels=True,
    )
    assert_same_labels(whole(data), check_result(merged))
    np.testing.assert_array_equal(zarr.open_array("merged.zarr/labels", mode="r")[...], merged.compute())


def test_pitfall_in_process_client_refused_at_start(image: Path) -> None:
    """The pitfall table: an in-process dask client is detected at startup, with the fix; nothing runs."""
    from distributed import Client

    from patchworks import merge_tile_labels, tile_process

    client = Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0")
    try:
        for call in (lambda: tile_process("image.zarr", fn, write_to="labels.zarr"),
                     lambda: merge_tile_labels("image.zarr", input_component="0")):
            with pytest.raises(RuntimeError, match="processes=False") as err:
                call()
            assert "make_local_cluster" in str(err.value)
    finally:
        client.close()
    assert not Path("labels.zarr").exists() and not (image / "labels").exists()
