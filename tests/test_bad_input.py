"""The bad-input catalogue: each case stops with a message naming what is wrong, where, and what
is accepted, and has no side effect (no job for config errors; the input store and any earlier
label image unchanged, nothing listed as labels, for errors found while running)."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from runs import (
    JOB_LINE,
    assert_only_reserved,
    custom_config,
    listed_labels,
    make_image,
    snakemake,
    succeeded,
    tree_digest,
    write_config,
)
from scipy import ndimage

from patchworks.io.images import write_image


@pytest.fixture(scope="module")
def small_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-channel 2-D NGFF 0.5 image (37 x 45), one level; never written to by the tests using it."""
    store = tmp_path_factory.mktemp("bad") / "image.ome.zarr"
    make_image(store, "cyx", (37, 45), 2, seed=3, scale=(1.0, 0.5, 0.5))
    return store


def _set(config: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        config = config.setdefault(p, {})
    config[last] = value


BAD_CONFIGS = {
    # id: (key path -> value, substrings the message must contain: the key, then what it accepts)
    "tile-zero": ({"tiling.tile_shape": 0}, ["tiling.tile_shape", ">= 1"]),
    "tile-zero-entry": ({"tiling.tile_shape": [0, 16]}, ["tiling.tile_shape", ">= 1"]),
    "tile-wrong-length": ({"tiling.tile_shape": [8, 8, 8]}, ["tiling.tile_shape", "2 spatial axes"]),
    "tile-larger-than-image": ({"tiling.tile_shape": [64, 16]}, ["tiling.tile_shape", "at most 37"]),
    "overlap-not-below-tile": ({"tiling.overlap": [16, 2]}, ["tiling.overlap", "smaller than the tile"]),
    "connectivity-3-in-2d": ({"connectivity": 3}, ["connectivity", "1..2"]),
    "unknown-method": ({"method.name": "watershed"}, ["method.name", "threshold", "custom"]),
    "misspelt-top-level-key": ({"tilling": {"tile_shape": 16}}, ["tilling", "tiling"]),
    "unknown-nested-key": ({"method.threshold.valeu": 3}, ["method.threshold", "valeu", "value"]),
    "channel-out-of-range": ({"input.channel": 2}, ["input.channel", "0..1"]),
    "level-out-of-range": ({"input.level": 1}, ["input.level", "0..0"]),
    "custom-not-importable": ({"method.name": "custom", "method.custom.function": "no_such_module_pw:seg"},
                              ["method.custom.function", "no_such_module_pw"]),
    "custom-no-such-function": ({"method.name": "custom", "method.custom.function": "numpy:no_such_fn"},
                                ["method.custom.function", "no_such_fn"]),
    "custom-without-function": ({"method.name": "custom"},
                                ["method.custom.function", "package.module:function"]),
    "store-missing": ({"input.store": "{tmp}/missing.ome.zarr"}, ["input.store", "does not exist"]),
    "store-not-zarr": ({"input.store": "{tmp}/plain_dir"}, ["input.store", "OME-Zarr"]),
    "store-not-ome-zarr": ({"input.store": "{tmp}/plain.zarr"}, ["input.store", "multiscales"]),
    "pyramid-vs-tile": ({"output.store": "{tmp}/labels.zarr", "pyramid.levels": 4},
                        ["tiling.tile_shape: 20 along 'x' is not a multiple of 8", "use 16 or 24 along 'x'",
                         "or pyramid.levels: 3"]),
    "pyramid-levels-vs-image": ({"pyramid.levels": 2}, ["pyramid.levels", "1 levels of the image", "auto"]),
    "workdir-inside-input": ({"workdir": "{store}/work"}, ["workdir", "inside"]),
    # new in the catalogue
    "tile-negative": ({"tiling.tile_shape": [-4, 16]}, ["tiling.tile_shape", ">= 1"]),
    "overlap-negative": ({"tiling.overlap": -1}, ["tiling.overlap", ">= 0"]),
    "connectivity-zero": ({"connectivity": 0}, ["connectivity", ">= 1"]),
    "output-store-inside-input": ({"output.store": "{store}/0"}, ["output.store", "inside"]),
    "label-name-a-path": ({"output.label_name": "../0"}, ["output.label_name", "letters, digits"]),
    "output-dtype-unknown": ({"output.dtype": "float32"}, ["output.dtype", "uint8", "uint64"]),
    "output-layout-array-into-input": ({"output.layout": "array"}, ["output.layout", "output.store"]),
    "output-layout-array-with-pyramid": ({"output.store": "{tmp}/labels.zarr", "output.layout": "array",
                                          "pyramid.levels": 3}, ["pyramid.levels", "one resolution"]),
    "staged-without-store": ({"method.name": "staged"}, ["method.staged.store", "required"]),
    "staged-store-missing": ({"method.name": "staged", "method.staged.store": "{tmp}/missing.zarr"},
                             ["method.staged", "no zarr array", "method.staged.component"]),
    "staged-with-skip-empty": ({"method.name": "staged", "method.staged.store": "{tmp}/staged.zarr",
                                "tiling.skip_empty": True}, ["tiling.skip_empty", "staged"]),
    "pyramid-method-unknown": ({"pyramid.method": "mean"}, ["pyramid.method", "mode", "nearest"]),
    "store-metadata-corrupt": ({"input.store": "{tmp}/corrupt.ome.zarr"}, ["input.store", "cannot be read"]),
    "store-level-missing": ({"input.store": "{tmp}/nolevel.ome.zarr"}, ["input.store", "level 0", "damaged"]),
    "store-lower-level-missing": ({"input.store": "{tmp}/nolevel1.ome.zarr"},
                                  ["input.store", "lists level 1 at '1'", "nolevel1.ome.zarr/1", "damaged"]),
    "store-zero-length-axis": ({"input.store": "{tmp}/empty.ome.zarr"},
                               ["input.store", "empty.ome.zarr level 0", "no voxels along 'x'"]),
    "store-is-a-file": ({"input.store": "{tmp}/image.tif"}, ["input.store", "image.tif", "truncated"]),
    "scene-on-ome-zarr": ({"input.scene": 1}, ["input.scene", "microscope files", "OME-Zarr"]),
    "model-path-missing": ({"method.name": "cellpose", "method.cellpose.model": "{tmp}/no/weights.pth"},
                           ["method.cellpose.model", "does not exist"]),
    "stardist-folder-missing": ({"method.name": "stardist", "method.stardist.model": "./no_such_model"},
                                ["method.stardist.model", "does not exist", "model folder"]),
    "cellpose-eval-kwarg-set-by-us": ({"method.name": "cellpose",
                                       "method.cellpose.eval_kwargs": {"diameter": 9}},
                                      ["method.cellpose.eval_kwargs", "'diameter'", "cellpose.diameter"]),
    "nuclear-channel-out-of-range": ({"method.name": "cellpose", "method.cellpose.nuclear_channel": 2},
                                     ["method.cellpose.nuclear_channel", "channels 0..1"]),
    "cellpose-3d-on-2d-image": ({"method.name": "cellpose", "method.cellpose.do_3D": True},
                                ["method.cellpose.do_3D", "3-D image"]),
    "iou-stitch-without-overlap": ({"stitch.mode": "iou", "tiling.overlap": 0},
                                   ["stitch.mode", "tiling.overlap"]),
    "overlap-auto-without-diameter": ({"tiling.overlap": "auto"}, ["tiling.overlap", "object_diameter"]),
    "kwargs-not-plain-data": ({"method.name": "custom", "method.custom.function": "numpy:copy",
                               "method.custom.kwargs": {"since": datetime.date(2024, 5, 1)}},
                              ["method.custom.kwargs.since", "datetime.date(2024, 5, 1)", "not plain data",
                               "quote a date"]),
}


@pytest.mark.parametrize(("changes", "needles"), BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_bad_config_stops_before_any_job(tmp_path: Path, small_image: Path, changes: dict[str, Any],
                                         needles: list[str]) -> None:
    """An invalid config value stops the run at parse time with a message naming the key."""
    (tmp_path / "plain_dir").mkdir()
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    shutil.copytree(small_image, tmp_path / "corrupt.ome.zarr")
    (tmp_path / "corrupt.ome.zarr" / "zarr.json").write_text('{"zarr_format": 3, "node_type": "gro')
    (tmp_path / "image.tif").write_bytes(b"II*\x00")
    zarr.create_array(str(tmp_path / "staged.zarr"), shape=(37, 45), dtype=np.uint16)
    shutil.copytree(small_image, tmp_path / "nolevel.ome.zarr")
    shutil.rmtree(tmp_path / "nolevel.ome.zarr" / "0")
    make_image(tmp_path / "nolevel1.ome.zarr", "cyx", (37, 45), 2, seed=3, levels=2)
    shutil.rmtree(tmp_path / "nolevel1.ome.zarr" / "1")
    write_image(tmp_path / "empty.ome.zarr", np.zeros((2, 37, 0), dtype=np.uint16), "cyx")
    workdir = tmp_path / "work"
    config = {
        "input": {"store": str(small_image), "channel": 1},
        "workdir": str(workdir),
        "tiling": {"tile_shape": [16, 20], "overlap": 2},
        "method": {"name": "threshold", "threshold": {"value": 500}},
    }
    for key, value in changes.items():
        if isinstance(value, str):
            value = value.format(tmp=tmp_path, store=small_image)
        _set(config, key, value)
    before = tree_digest(small_image)

    proc = snakemake(write_config(tmp_path, config))
    assert proc.returncode != 0
    error = [line for line in proc.stdout.splitlines() if "config error" in line]
    assert error, proc.stdout[-3000:]
    for needle in needles:
        assert needle in error[0], error[0]
    assert not JOB_LINE.search(proc.stdout)
    assert not workdir.exists()
    assert tree_digest(small_image) == before  # in particular no labels/




# errors found while running ---------------------------------------------------------------
@pytest.mark.parametrize(("mode", "needle"), [("float", "dtype float64"), ("shape", "shape"),
                                               ("negative", "negative labels"), ("ndim", "3-D array"),
                                               ("raise", "raised ValueError: model weights not found")])
def test_custom_method_bad_output_fails_naming_tile(tmp_path: Path, custom_module: Path, mode: str,
                                                    needle: str) -> None:
    """A custom function that raises, or returns floats, the wrong shape or ndim, or negative ids, fails
    its stage job with a message naming the tile; nothing is published, the input's own files are
    unchanged (only the label name is reserved)."""
    store = tmp_path / "image.ome.zarr"
    make_image(store, "yx", (20, 30), seed=6)
    workdir = tmp_path / "work"
    config = write_config(tmp_path, custom_config(store, workdir, {"value": 400, "mode": mode}, [20, 16]))
    before = tree_digest(store)
    proc = snakemake(config, pythonpath=custom_module)
    assert proc.returncode != 0
    assert_only_reserved(store, before, "custom")
    assert "patchworks: 2 job(s) failed:" in proc.stdout  # the summary: both tiles
    assert "Error in rule stage" in proc.stdout
    messages = [line for line in proc.stdout.splitlines() if "patchworks stage failed" in line]
    assert messages, proc.stdout[-4000:]
    for message in messages:
        assert re.search(r"tile \d+ \(grid index \(\d+, \d+\), region \[", message), message
        assert needle in message
    logs = sorted((workdir / "custom" / "logs" / "stage").glob("*.log"))
    failed = [p for p in logs if needle in p.read_text()]
    assert failed
    for log in failed:
        assert f"tile {log.stem} (grid index" in log.read_text()
    assert not (workdir / "custom" / "published.json").exists()
    assert "custom" not in listed_labels(store, "0.5")



def test_output_dtype_too_small_for_object_count(tmp_path: Path) -> None:
    """More objects than output.dtype holds: the merge step stops naming the count and the fix, before
    the label image is created; the input and an earlier label image stay as they were."""
    store = tmp_path / "image.ome.zarr"
    image = np.zeros((40, 40), dtype=np.uint16)
    image[::2, ::2] = 1000  # 400 single-voxel objects
    write_image(store, image, "yx")
    earlier = store / "labels" / "earlier"
    write_image(earlier, np.ones((40, 40), dtype=np.uint8), "yx")
    before = tree_digest(store)
    config = write_config(tmp_path, {
        "input": {"store": str(store)}, "workdir": str(tmp_path / "work"),
        "output": {"label_name": "spots", "dtype": "uint8"},
        "tiling": {"tile_shape": [20, 20]},
        "method": {"name": "threshold", "threshold": {"value": 500}},
        "connectivity": 1,
    })
    proc = snakemake(config)
    assert proc.returncode != 0
    assert "output.dtype: uint8 holds ids up to 255 but the image has 400 objects; set output.dtype to " \
           "uint16 or wider" in proc.stdout, proc.stdout[-3000:]
    assert "Error in rule cc" in proc.stdout
    assert_only_reserved(store, before, "spots")  # no label image created, the earlier one untouched


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 1 MB tmpfs (root only: mounting needs it); unmounted afterwards."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true, but a small filesystem cannot be mounted here (needs root)")
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("full", ["workdir", "image"])
def test_full_disk_fails_clearly_then_reruns_after_freeing_space(tmp_path: Path, tiny_disk: Path,
                                                                 full: str) -> None:
    """The disk holding the work directory, or the image the labels are written into, fills up: the
    run fails naming the disk and the fix, the image's own data stays intact and nothing is listed
    as labels; with space again, the same command finishes with exact labels."""
    rng = np.random.default_rng(3)
    image = (ndimage.gaussian_filter(rng.random((128, 128)), 1) * 1000).astype(np.uint16)
    value = float(np.quantile(image, 0.6))
    store = (tiny_disk if full == "image" else tmp_path) / "image.ome.zarr"
    write_image(store, image, "yx")
    before = tree_digest(store)
    workdir = (tiny_disk if full == "workdir" else tmp_path) / "work"
    config = write_config(tmp_path, {
        "input": {"store": str(store)}, "workdir": str(workdir),
        "tiling": {"tile_shape": [64, 64]},
        "method": {"name": "threshold", "threshold": {"value": value}},
        "connectivity": 1,
    })
    filler = tiny_disk / "filler"  # leaves too little room for the staged labels / the labels
    filler.write_bytes(b"\0" * (shutil.disk_usage(tiny_disk).free - 16384))
    proc = snakemake(config)
    assert proc.returncode != 0
    assert "No space left on device" in proc.stdout, proc.stdout[-3000:]
    messages = [line for line in proc.stdout.splitlines() if "patchworks" in line and "disk is full" in line]
    assert messages, proc.stdout[-3000:]
    assert f"{workdir if full == 'workdir' else store} (0.0 MB free)" in messages[0], messages[0]
    assert "free space there" in messages[0], messages[0]
    assert "labels" not in listed_labels(store, "0.5")
    after = tree_digest(store)
    assert {k: v for k, v in after.items() if not k.startswith("labels")} == before  # the image itself intact

    filler.unlink()
    succeeded(snakemake(config))
    labels = zarr.open_array(str(store / "labels" / "labels" / "0"), mode="r")[...]
    ref, n = ndimage.label(image > value)
    assert len(np.unique(labels)) - 1 == n
    assert len(set(zip(labels.ravel().tolist(), ref.ravel().tolist()))) == n + 1
    assert listed_labels(store, "0.5") == ["labels"]
