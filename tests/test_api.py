"""The Python API's contract beyond the seeds' examples (tests/test_seeds.py): each parameter's
documented meaning, errors in the API's words, dask arrays in and out, the dask-distributed path on
a real LocalCluster, and labels equal to the workflow's (a real ``snakemake`` run) on the same image."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr
from runs import blobs, make_image, snakemake, succeeded, write_config
from scipy import ndimage
from test_exactness import assert_same_labels

from patchworks import (
    auto_overlap,
    auto_tile_shape,
    auto_tile_shape_cellpose,
    estimate_empty_tiles,
    make_local_cluster,
    merge_tile_labels,
    tile_process,
)
from patchworks.errors import ConfigError
from patchworks.io.images import write_image
from patchworks.io.labels import check_dtype_fits
from patchworks.pipeline.cluster import gpu_worker_specs
from patchworks.tiling.sizing import memory_limit_bytes

VALUE = 100


def threshold(tile: np.ndarray) -> np.ndarray:
    return ndimage.label(tile > VALUE)[0]


def pid_logged(tile: np.ndarray) -> np.ndarray:
    """``threshold``, leaving the id of the process that ran it in $PW_PID_DIR."""
    Path(os.environ["PW_PID_DIR"], str(os.getpid())).touch()
    return threshold(tile)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A 2-channel 2-D image (c, y, x) of 60 x 70, 2 levels; its channel 1 is segmented."""
    store = tmp_path_factory.mktemp("api") / "cells.ome.zarr"
    data = make_image(store, "cyx", (60, 70), 2, seed=5, levels=2, scale=(1.0, 0.25, 0.25))
    return store, data[1]


def fresh(image: tuple[Path, np.ndarray], tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(image[0], tmp_path / "cells.ome.zarr")
    return tmp_path / "cells.ome.zarr"


def test_write_to_is_one_int32_array_on_spatial_axes(tmp_path: Path, image) -> None:
    """write_to: <store>/<output_component>, single resolution, the image's spatial axes (the c axis
    dropped), int32; the input store is not written; a second run into it needs overwrite=True."""
    store, channel = image
    out = tmp_path / "out.zarr"
    result = tile_process(store, threshold, channel=1, tile_shape=(20, 30), overlap=3, write_to=out,
                          output_component="cells", progress=False)
    array = zarr.open_group(str(out), mode="r")["cells"]
    assert array.shape == (60, 70) and array.dtype == np.int32 and result.dtype == np.int32
    assert list(array.metadata.dimension_names) == ["y", "x"]
    assert_same_labels(threshold(channel), array[...])
    assert not (store / "labels").exists()
    with pytest.raises(ConfigError, match="output_component: a label image 'cells' already exists") as err:
        tile_process(store, threshold, channel=1, write_to=out, output_component="cells", progress=False)
    assert "overwrite=True" in str(err.value) and "output.overwrite" not in str(err.value)
    again = tile_process(store, threshold, channel=1, tile_shape=(30, 35), write_to=out,
                         output_component="cells", overwrite=True, progress=False)
    assert_same_labels(threshold(channel), again.compute())


def test_into_image_follows_its_pyramid_with_warnings(tmp_path: Path, image) -> None:
    """pyramid_levels / pyramid_downscale other than the image's: the image's, with a warning each."""
    store = fresh(image, tmp_path)
    with pytest.warns(UserWarning) as caught:
        result = tile_process(store, threshold, channel=1, tile_shape=(20, 30), pyramid_levels=5,
                              pyramid_downscale=3, progress=False)
    messages = " ".join(str(w.message) for w in caught)
    assert "pyramid_levels=5: the image has 2" in messages and "pyramid_downscale=3" in messages
    group = zarr.open_group(str(store / "labels" / "labels"), mode="r")
    assert [group[k].shape for k in ("0", "1")] == [(60, 70), (30, 35)]  # y/x of the c/y/x image
    assert result.shape == (60, 70)
    with warnings.catch_warnings(record=True) as caught:  # the image's own levels and factor: no warning
        warnings.simplefilter("always")
        tile_process(fresh(image, tmp_path / "b"), threshold, channel=1, tile_shape=(20, 30),
                     pyramid_levels=2, pyramid_downscale=2, progress=False)
    assert not [w for w in caught if "pyramid_" in str(w.message)]


def test_overlap_per_axis_and_planes(tmp_path: Path) -> None:
    """overlap as a tuple: that halo along each axis; tile_shape (1, Y, X) hands fn 2-D planes."""
    data = blobs((3, 40, 50), seed=8)
    write_image(tmp_path / "stack.zarr", data, "zyx", chunks=(1, 20, 25))
    shapes = []

    def record(tile: np.ndarray) -> np.ndarray:
        shapes.append(tile.shape)
        return threshold(tile)

    labels = tile_process(tmp_path / "stack.zarr", record, tile_shape=(1, 20, 25), overlap=(0, 2, 5),
                          write_to=tmp_path / "l.zarr", progress=False, max_workers=1)
    assert_same_labels(threshold(data), labels.compute())
    assert set(shapes) == {(22, 30)} and len(shapes) == 3 * 2 * 2  # planes, halo (2, 5) cut at borders
    with pytest.raises(ConfigError, match="overlap: 1 along 'z' must be >= 0 and smaller than the tile"):
        tile_process(tmp_path / "stack.zarr", threshold, tile_shape=(1, 20, 25), overlap=(1, 2, 5),
                     write_to=tmp_path / "m.zarr", progress=False)


def test_progress_bars_and_verbose_tile_log(tmp_path: Path, image, capsys: pytest.CaptureFixture) -> None:
    """progress: a bar per step (staging, faces, the label write with the pyramid); verbose: one line per
    tile with its location and shape. Both off: nothing on stderr."""
    tile_process(fresh(image, tmp_path), threshold, channel=1, tile_shape=(20, 36), overlap=2,
                 progress=True, verbose=True)
    err = capsys.readouterr().err
    for step in ("stage", "faces", "write labels and pyramid"):
        assert f"{step}: 100%" in err, err
    tiles = [line for line in err.splitlines() if line.startswith("patchworks: tile ")]
    assert len(tiles) == 6, err
    assert "patchworks: tile 5 (grid index (2, 1), region [40:60, 36:70]): block (tile with halo) of " \
           "shape (22, 36)" in tiles
    import logging

    logging.basicConfig(level=logging.INFO, force=True)  # even with INFO logging set up by the user
    try:
        tile_process(fresh(image, tmp_path / "quiet"), threshold, channel=1, tile_shape=(20, 36),
                     progress=False)
    finally:
        logging.basicConfig(level=logging.WARNING, force=True)
    assert "patchworks: tile" not in capsys.readouterr().err


def test_dtype_too_small_stops_naming_a_wider_one(tmp_path: Path) -> None:
    """More objects than dtype holds: an error in the API's words naming wider types; nothing listed."""
    spots = np.zeros((40, 40), np.uint16)
    spots[::2, ::2] = 500  # 400 objects
    write_image(tmp_path / "spots.zarr", spots, "yx")
    with pytest.raises(ConfigError, match="dtype: int8 holds ids up to 127 but the image has 400 objects; "
                                          "set dtype to int16 or wider"):
        tile_process(tmp_path / "spots.zarr", threshold, tile_shape=(20, 20), dtype="int8", progress=False)
    assert not (tmp_path / "spots.zarr" / "labels" / "labels").exists()  # its reservation released
    with pytest.raises(ConfigError, match="set output.dtype to int64 or wider"):
        check_dtype_fits(2**31, "int32")
    check_dtype_fits(2**31 - 1, "int32")
    ok = tile_process(tmp_path / "spots.zarr", threshold, tile_shape=(20, 20), dtype="uint16", progress=False)
    assert ok.dtype == np.uint16 and int(ok.max().compute()) == 400


def test_dask_array_in_and_out(tmp_path: Path) -> None:
    """A dask array image: its blocks are the tiles; labels in a temp store (or write_to)."""
    data = blobs((50, 64), seed=9)
    image = da.from_array(data, chunks=(25, 32))
    result = tile_process(image, threshold, overlap=4, progress=False)
    assert result.chunksize == (25, 32) and result.dtype == np.int32
    assert_same_labels(threshold(data), result.compute())
    out = tile_process(image, threshold, write_to=tmp_path / "a.zarr", output_component="x", progress=False)
    np.testing.assert_array_equal(out.compute(), zarr.open_array(str(tmp_path / "a.zarr" / "x"))[...])
    assert_same_labels(threshold(data), out.compute())


def test_channel_none_and_tile_shape_errors(tmp_path: Path, image) -> None:
    store, _ = image
    with pytest.raises(ValueError, match="channel: None but the image has 2 channels"):
        tile_process(store, threshold, channel=None, write_to=tmp_path / "x.zarr", progress=False)
    with pytest.raises(ValueError, match="tile_shape: 'big' is not understood"):
        tile_process(store, threshold, tile_shape="big", write_to=tmp_path / "x.zarr", progress=False)
    with pytest.raises(ConfigError, match="tile_shape: .* has 3 entries but the image has 2 spatial axes"):
        tile_process(store, threshold, tile_shape=(1, 8, 8), write_to=tmp_path / "x.zarr", progress=False)


def test_sizing_helpers_with_the_seeds_signatures(monkeypatch: pytest.MonkeyPatch) -> None:
    """auto_overlap(diameter) is one number (two diameters); use_gpu without a GPU warns and sizes
    against this machine's memory, while the workflow (require_gpu) still stops."""
    assert auto_overlap(30) == 60 and auto_overlap(7.2) == 15
    assert auto_overlap(6.0, (2.0, 0.5, 0.5)) == (6, 24, 24)
    # a SLURM allocation of 4 GB bounds the memory seen, which otherwise moves with other processes
    monkeypatch.setenv("SLURM_MEM_PER_NODE", "4096")
    monkeypatch.delenv("SLURM_MEM_PER_CPU", raising=False)
    assert memory_limit_bytes() == 4 << 30
    with pytest.warns(UserWarning, match="no GPU"):
        on_gpu = auto_tile_shape((20000, 20000), "uint16", use_gpu=True)
    assert on_gpu == auto_tile_shape((20000, 20000), "uint16")
    assert on_gpu == auto_tile_shape((20000, 20000), "uint16", budget_bytes=4 << 30) != (20000, 20000)
    with pytest.warns(UserWarning, match="no GPU"):
        cp = auto_tile_shape_cellpose((8000, 8000), "uint16", diameter=30, use_gpu=True)
    assert cp == auto_tile_shape_cellpose((8000, 8000), "uint16", diameter=30, use_gpu=False)
    assert cp == auto_tile_shape_cellpose((8000, 8000), "uint16", diameter=30, use_gpu=False,
                                          budget_bytes=4 << 30) != (8000, 8000)
    with pytest.raises(RuntimeError, match="no GPU found"):
        auto_tile_shape((5000, 5000), "uint16", use_gpu=True, require_gpu=True)
    specs = gpu_worker_specs([0, 3])
    assert [s["options"]["env"] for s in specs.values()] == [{"CUDA_VISIBLE_DEVICES": "0"},
                                                             {"CUDA_VISIBLE_DEVICES": "3"}]
    assert all(s["options"]["nthreads"] == 1 for s in specs.values())


def test_estimate_from_a_lower_level_says_so(tmp_path: Path, image) -> None:
    store, channel = image
    exact = estimate_empty_tiles(store, (20, 35), overlap=0, channel=1, threshold=900)
    coarse = estimate_empty_tiles(store, (20, 35), overlap=0, channel=1, threshold=900, from_level=1)
    assert exact["exact"] and not coarse["exact"] and "pyramid level 1" in coarse["read"]
    expected = [t for t, (y, x) in enumerate([(y, x) for y in (0, 20, 40) for x in (0, 35)])
                if channel[y:y + 20, x:x + 35].max() <= 900]
    assert exact["empty_tiles"] == expected and exact["n_empty"] == len(expected)
    assert set(exact["empty_tiles"]) <= set(coarse["empty_tiles"])  # block means never exceed the max


def test_merge_tiles_that_subdivide_and_bad_blocks(tmp_path: Path) -> None:
    """Our tiles may divide the tiles the labels were made in; irregular dask blocks are refused."""
    data = blobs((48, 60), seed=12)
    per_tile = da.from_array(data, chunks=(24, 30)).map_blocks(threshold, dtype=np.int32)
    merged = merge_tile_labels(per_tile, tile_shape=(12, 15), progress=False)
    assert_same_labels(threshold(data), merged.compute())
    irregular = da.from_array(data, chunks=((20, 28), (30, 30))).map_blocks(threshold, dtype=np.int32)
    with pytest.raises(ValueError, match="blocks along axis 0 are irregular"):
        merge_tile_labels(irregular, progress=False)
    with pytest.raises(ValueError, match="labels: no zarr array at"):
        merge_tile_labels(tmp_path / "missing.zarr", input_component="x", progress=False)


def test_distributed_local_cluster_runs_the_tiles(tmp_path: Path, image, monkeypatch) -> None:
    """With a LocalCluster active, the per-tile jobs run in its worker processes (not here), and the
    labels equal a run in this process."""
    store, channel = image
    monkeypatch.setenv("PW_PID_DIR", str(tmp_path / "pids"))
    (tmp_path / "pids").mkdir()
    here = tile_process(store, threshold, channel=1, tile_shape=(20, 35), write_to=tmp_path / "here.zarr",
                        progress=False).compute()
    client, cluster = make_local_cluster(n_workers=1, dashboard_address=None)
    try:
        there = tile_process(store, pid_logged, channel=1, tile_shape=(20, 35), write_to=tmp_path / "c.zarr",
                             progress=False)
        np.testing.assert_array_equal(there.compute(), here)
        per_tile = da.from_array(channel, chunks=(20, 35)).map_blocks(pid_logged, dtype=np.int32,
                                                                      meta=np.empty((0, 0), np.int32))
        merged = merge_tile_labels(per_tile, write_to=tmp_path / "m.zarr", progress=False)
        assert_same_labels(threshold(channel), merged.compute())
        workers = set(client.run(os.getpid).values())
    finally:
        client.close()
        cluster.close()
    pids = {int(p.name) for p in (tmp_path / "pids").iterdir()}
    assert pids and pids <= workers and os.getpid() not in pids


def test_same_labels_as_the_workflow(tmp_path: Path, custom_module: Path, monkeypatch) -> None:
    """The same calls on a new image (3-D, NGFF 0.4, anisotropic, 3 levels) give the labels a
    ``snakemake`` run of the same config writes, bit for bit, at every level; and the workflow's
    ``method: staged`` merges per-tile labels as merge_tile_labels does."""
    monkeypatch.syspath_prepend(str(custom_module))
    from pw_custom_seg import segment

    data = make_image(tmp_path / "wf.ome.zarr", "zyx", (6, 32, 72), seed=2026, version="0.4", levels=3,
                      scale=(2.0, 0.5, 0.5))
    import shutil

    shutil.copytree(tmp_path / "wf.ome.zarr", tmp_path / "api.ome.zarr")
    kwargs = {"value": 600, "connectivity": 2}
    config = {
        "input": {"store": str(tmp_path / "wf.ome.zarr")},
        "output": {"label_name": "cells", "dtype": "int32"},
        "workdir": str(tmp_path / "work"),
        "tiling": {"tile_shape": [3, 32, 36], "overlap": [1, 3, 3]},
        "method": {"name": "custom", "custom": {"function": "pw_custom_seg:segment", "kwargs": kwargs}},
        "connectivity": 2,
    }
    succeeded(snakemake(write_config(tmp_path, config), pythonpath=custom_module))
    from functools import partial

    tile_process(tmp_path / "api.ome.zarr", partial(segment, **kwargs), tile_shape=(3, 32, 36),
                 overlap=(1, 3, 3), connectivity=2, output_component="cells", progress=False)
    for level in range(3):
        wf = zarr.open_array(str(tmp_path / "wf.ome.zarr" / "labels" / "cells" / str(level)), mode="r")
        api = zarr.open_array(str(tmp_path / "api.ome.zarr" / "labels" / "cells" / str(level)), mode="r")
        assert wf.dtype == api.dtype == np.int32
        np.testing.assert_array_equal(api[...], wf[...])
    reference = ndimage.label(data > 600, structure=ndimage.generate_binary_structure(3, 2))[0]
    assert_same_labels(reference, zarr.open_array(str(tmp_path / "api.ome.zarr/labels/cells/0"))[...])

    # per-tile labels made elsewhere (ids restart in each 3 x 32 x 36 tile), merged by the workflow
    staged = zarr.open_group(str(tmp_path / "mine.zarr"), mode="w").create_array(
        "raw", shape=data.shape, dtype=np.uint32, chunks=(3, 32, 36))
    per_tile = da.from_array(data, chunks=(3, 32, 36)).map_blocks(partial(segment, **kwargs), dtype=np.uint32)
    staged[...] = per_tile.compute()
    merge_config = {
        "input": {"store": str(tmp_path / "wf.ome.zarr")},
        "output": {"label_name": "merged", "store": str(tmp_path / "merged.zarr"), "layout": "array",
                   "dtype": "int32"},
        "workdir": str(tmp_path / "work2"),
        "tiling": {"tile_shape": [3, 32, 18]},  # tiles that divide theirs
        "method": {"name": "staged", "staged": {"store": str(tmp_path / "mine.zarr"), "component": "raw"}},
        "connectivity": 2,
        "pyramid": {"levels": 1},
    }
    proc = snakemake(write_config(tmp_path, merge_config, "merge.yaml"))
    succeeded(proc)
    assert "rule stage" in proc.stdout and "rule threshold" not in proc.stdout
    workflow_merged = zarr.open_array(str(tmp_path / "merged.zarr" / "merged"), mode="r")[...]
    assert_same_labels(reference, workflow_merged)
    api_merged = merge_tile_labels(tmp_path / "mine.zarr", input_component="raw", tile_shape=(3, 32, 18),
                                   connectivity=2, progress=False)
    np.testing.assert_array_equal(api_merged.compute(), workflow_merged)


def test_staged_config_errors(tmp_path: Path, image) -> None:
    """method staged: an array of another shape, or float labels, stop before any job."""
    from patchworks.pipeline import local

    store, _ = image
    zarr.create_array(str(tmp_path / "wrong.zarr"), shape=(60, 71), dtype=np.uint16)
    zarr.create_array(str(tmp_path / "float.zarr"), shape=(60, 70), dtype=np.float32)
    base = {"input": {"store": str(store)}, "workdir": str(tmp_path / "w"),
            "output": {"store": str(tmp_path / "o.zarr")}, "tiling": {"tile_shape": 30}}
    for path, needle in (("wrong.zarr", r"shape \(60, 71\) but the image's spatial shape is \(60, 70\)"),
                         ("float.zarr", "holds float32, not integer labels")):
        config = {**base, "method": {"name": "staged", "staged": {"store": str(tmp_path / path)}}}
        with pytest.raises(ConfigError, match=needle):
            local.run(config)
    assert not (tmp_path / "o.zarr").exists()
