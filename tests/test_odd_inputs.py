"""Odd inputs a new user brings: exact results, kept metadata, found damage, early clear errors.

Each test runs the real workflow on a small image written by our NGFF writer (``runs.snakemake``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import zarr
from runs import JOB_LINE, REPO, RUN_DIR, listed_labels, snakemake, succeeded, tree_digest, write_config
from scipy import ndimage
from skimage.filters import threshold_otsu
from snakelog import jobs_run

from patchworks.io.digest import ALGORITHMS, DEFAULT, digest, matches
from patchworks.io.images import write_image


def same_partition(labels: np.ndarray, reference: np.ndarray) -> bool:
    """Equal up to renumbering: the same voxels in the background, one label per reference object."""
    pairs = set(zip(labels.ravel().tolist(), reference.ravel().tolist()))
    return (labels == 0).tolist() == (reference == 0).tolist() and \
        len(pairs) == len(np.unique(labels)) == len(np.unique(reference))


def labels_of(store: Path, name: str = "labels", level: int = 0) -> np.ndarray:
    return zarr.open_array(str(store / "labels" / name / str(level)), mode="r")[...]


def config_for(tmp: Path, store: Path, tile: list[int], method: dict, **more) -> dict:
    return {"input": {"store": str(store)}, "workdir": str(tmp / "work"), "tiling": {"tile_shape": tile},
            "method": method, **more}


# 1: 64-bit integers beyond a float's precision ----------------------------------------------------
@pytest.mark.parametrize(("dtype", "value"), [("uint64", 2**60), ("int64", "otsu")])
def test_64_bit_images_are_thresholded_in_their_own_type(tmp_path: Path, dtype: str, value) -> None:
    """Background 2**60, objects 2**60 + 1: a float64 cannot tell them apart; every object is found,
    with a fixed integer threshold and with Otsu, also skipping empty tiles at that threshold."""
    base = 2**60
    image = np.full((30, 40), base, dtype=dtype)
    image[2:9, 3:12] = base + 1
    image[12:25, 15:33] = base + 1  # crosses tiles
    image[27:29, 36:39] = base + 1
    store = tmp_path / "image.ome.zarr"
    write_image(store, image, "yx", chunks=(10, 10))
    method = {"name": "threshold", "threshold": {"value": value}}
    config = config_for(tmp_path, store, [15, 20], method, connectivity=1)
    config["tiling"].update({"skip_empty": True, "empty_threshold": base if value == "otsu" else value})
    succeeded(snakemake(write_config(tmp_path, config)))
    reference, n = ndimage.label(image > base)
    assert n == 3
    assert same_partition(labels_of(store), reference)


def test_float_threshold_that_cannot_stand_for_64_bit_values_is_a_config_error(tmp_path: Path) -> None:
    store = tmp_path / "image.ome.zarr"
    write_image(store, np.full((20, 20), 2**60, dtype="uint64"), "yx")
    method = {"name": "threshold", "threshold": {"value": float(2**60)}}
    proc = snakemake(write_config(tmp_path, config_for(tmp_path, store, [10, 10], method)))
    assert proc.returncode != 0
    assert "method.threshold.value: 1.152921504606847e+18 is a floating-point number" in proc.stdout
    assert "write it as a whole number (e.g. 1152921504606846976)" in proc.stdout
    assert not JOB_LINE.search(proc.stdout)


# 2: other tools' attributes of the labels group -------------------------------------------------------
@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_other_attributes_of_the_labels_group_are_kept(tmp_path: Path, version: str) -> None:
    """Another tool's label image and attributes in ``labels/`` survive our listing, unlisting and
    relisting (a run, then a rerun that replaces our labels)."""
    image = (ndimage.gaussian_filter(np.random.default_rng(1).random((24, 24)), 1) * 1000).astype("uint16")
    store = tmp_path / "image.ome.zarr"
    write_image(store, image, "yx", version=version)
    theirs = {"labels": ["theirs"], "mytool": {"run": 7}}
    group = zarr.open_group(str(store / "labels"), mode="w", zarr_format=2 if version == "0.4" else 3)
    v05 = {"ome": {"version": "0.5", **theirs}, "mytool": {"run": 7}}
    group.attrs.put(v05 if version == "0.5" else theirs)
    method = {"name": "threshold", "threshold": {"value": float(np.quantile(image, 0.7))}}
    config = config_for(tmp_path, store, [12, 12], method)
    succeeded(snakemake(write_config(tmp_path, config)))
    config["connectivity"] = 2  # reruns from stage on: our label image is unlisted, then listed again
    succeeded(snakemake(write_config(tmp_path, config)))
    attrs = zarr.open_group(str(store / "labels"), mode="r").attrs.asdict()
    assert attrs["mytool"] == {"run": 7}
    ngff = attrs["ome"] if version == "0.5" else attrs
    assert ngff["labels"] == ["theirs", "labels"]
    if version == "0.5":
        assert attrs["ome"]["mytool"] == {"run": 7} and attrs["ome"]["version"] == "0.5"


# 3: damage to a finished label image ----------------------------------------------------------------
def test_verify_names_damaged_tiles_and_the_rerun_rewrites_exactly_them(tmp_path: Path) -> None:
    """A lost chunk of level 0 and one of level 1 go unnoticed by Snakemake; ``patchworks-status
    --verify`` names the two tiles and exits 1, changing nothing; ``--repair`` does the same and
    unlists the labels; the same snakemake command then reruns only their relabel jobs and publish,
    and the labels are bit-identical to the undamaged ones."""
    image = (ndimage.gaussian_filter(np.random.default_rng(2).random((64, 64)), 1.5) * 1000).astype("uint16")
    store = tmp_path / "image.ome.zarr"
    write_image(store, image, "yx", levels=2)
    method = {"name": "threshold", "threshold": {"value": float(np.quantile(image, 0.6))}}
    cfg = write_config(tmp_path, config_for(tmp_path, store, [32, 32], method))
    succeeded(snakemake(cfg))
    before = {level: labels_of(store, level=level) for level in (0, 1)}
    status = [sys.executable, "-m", "patchworks.pipeline.status", "--verify", str(cfg)]
    clean = subprocess.run(status, capture_output=True, text=True, cwd=RUN_DIR)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "verify: 4 of 4 tiles checked against their checksums, 0 damaged" in clean.stdout

    level0, level1 = store / "labels" / "labels" / "0", store / "labels" / "labels" / "1"
    assert (level0 / "c" / "1" / "1").exists() and (level1 / "c" / "0" / "0").exists()  # chunks hold labels
    (level0 / "c" / "1" / "1").unlink()  # tile 3 (grid (1, 1)) at level 0
    (level1 / "c" / "0" / "0").unlink()  # tile 0's share of level 1
    assert "Nothing to be done" in snakemake(cfg).stdout  # what Snakemake alone sees
    for option in ("--verify", "--repair"):
        command = [*status[:3], option, *status[4:]]
        found = subprocess.run(command, capture_output=True, text=True, cwd=RUN_DIR)
        assert found.returncode == 1, found.stdout + found.stderr
        assert "4 of 4 tiles checked against their checksums, 2 damaged" in found.stdout
        assert "damaged tile 0 (grid index (0, 0), region [0:32, 0:32]): level(s) 1" in found.stdout
        assert "damaged tile 3 (grid index (1, 1), region [32:64, 32:64]): level(s) 0" in found.stdout
        # verify changes nothing; repair unlists the labels: damaged, they no longer look complete
        assert ("labels" in listed_labels(store, "0.5")) == (option == "--verify")
        assert "Nothing to be done" in snakemake(cfg, "-n").stdout or option == "--repair"

    rerun = snakemake(cfg)
    succeeded(rerun)
    assert jobs_run(rerun.stdout) == {"relabel[tile=0]", "relabel[tile=3]", "publish", "figures", "all"}
    for level in (0, 1):
        assert np.array_equal(labels_of(store, level=level), before[level])
    assert listed_labels(store, "0.5") == ["labels"]


def test_checksums_find_one_changed_voxel_and_records_name_their_algorithm() -> None:
    """Each checksum algorithm tells a region from the same region with one voxel changed, or with its
    bytes in another shape; a record names its algorithm, so the CRC-32 records of earlier versions
    (zlib over the dtype and shape, then the values) still verify."""
    labels = np.random.default_rng(5).integers(0, 40, (6, 50, 70)).astype("uint32")
    old_record = f"crc32:{zlib.crc32(labels.tobytes(), zlib.crc32(b'<u4(6, 50, 70)')):08x}"
    assert digest(labels, "crc32") == old_record and matches(labels, old_record)
    assert digest(labels).startswith(f"{DEFAULT}:")
    for algorithm in ALGORITHMS:
        recorded = digest(labels, algorithm)
        changed = labels.copy()
        changed[3, 20, 41] += 1
        assert matches(labels, recorded) and not matches(changed, recorded)
        assert not matches(labels.reshape(6, 70, 50), recorded)
        assert digest(labels[:, ::2], algorithm) == digest(np.ascontiguousarray(labels[:, ::2]), algorithm)
    assert labels.flags.writeable  # the read-only view the CRC-32C needs is not the caller's array
    with pytest.raises(ValueError, match="unknown checksum 'md5:00'"):
        matches(labels, "md5:00")


# 4: zero padding around the sample (the model methods' percentiles: tests/test_models.py) -------------
def test_otsu_leaves_out_chunks_of_padding(tmp_path: Path) -> None:
    """Real nuclei inside zero padding (94 % of the image): Otsu's threshold is that of the nuclei
    image alone (the sampled chunks of padding are left out), and so are the objects."""
    crop = np.load(REPO / "tests" / "data" / "nuclei_mosaic.npz")["image"][:128, :128]
    canvas = np.zeros((512, 512), crop.dtype)
    canvas[192:320, 256:384] = crop
    store = tmp_path / "image.ome.zarr"
    write_image(store, canvas, "yx", chunks=(32, 32))
    config = config_for(tmp_path, store, [256, 256], {"name": "threshold", "threshold": {"value": "otsu"}})
    succeeded(snakemake(write_config(tmp_path, config)))
    found = json.loads((tmp_path / "work" / "labels" / "threshold.json").read_text())
    assert found["padding_chunks"] == 240 and found["sample_chunks"] == 256
    assert found["value"] == float(threshold_otsu(crop)) != float(threshold_otsu(canvas))
    assert same_partition(labels_of(store)[192:320, 256:384], ndimage.label(crop > found["value"])[0])


# 6: NaN in a float image ------------------------------------------------------------------------------
def test_nan_voxels_are_background_and_otsu_uses_the_finite_values(tmp_path: Path) -> None:
    """A float image with NaN patches (one tile all NaN): Otsu is computed over the finite voxels, NaN
    is never foreground, an all-NaN tile counts as empty; the labels equal whole-image labelling."""
    rng = np.random.default_rng(4)
    image = ndimage.gaussian_filter(rng.random((40, 40)), 1.5).astype("float32")
    image[:20, :20] = np.nan  # tile 0 entirely
    image[25:30, 5:35] = np.nan
    store = tmp_path / "image.ome.zarr"
    write_image(store, image, "yx")
    method = {"name": "threshold", "threshold": {"value": "otsu"}}
    config = config_for(tmp_path, store, [20, 20], method)
    config["tiling"].update({"skip_empty": True, "empty_threshold": "otsu"})
    succeeded(snakemake(write_config(tmp_path, config)))
    value = json.loads((tmp_path / "work" / "labels" / "threshold.json").read_text())["value"]
    assert value == pytest.approx(float(threshold_otsu(image[np.isfinite(image)])))
    stage0 = json.loads((tmp_path / "work" / "labels" / "stage" / "0.json").read_text())
    assert stage0["skipped"]
    reference, n = ndimage.label(np.nan_to_num(image, nan=-np.inf) > value)
    assert n > 3
    assert same_partition(labels_of(store), reference)


# 7: a read-only image store ----------------------------------------------------------------------
@pytest.fixture
def read_only_image(tmp_path: Path):
    """A small image on a tmpfs remounted read-only (root only, as in CI); unmounted afterwards."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true, but a read-only filesystem cannot be mounted here (needs root)")
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "ro"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    image = (ndimage.gaussian_filter(np.random.default_rng(5).random((30, 30)), 1) * 1000).astype("uint16")
    write_image(mount / "image.ome.zarr", image, "yx")
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    try:
        yield mount / "image.ome.zarr", image
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_read_only_image_store_is_a_config_error_before_any_job(tmp_path: Path, read_only_image) -> None:
    """Labels into a read-only image store: stopped at parse time, naming the store and the fix; the
    fix (output.store elsewhere) then runs."""
    store, image = read_only_image
    value = float(np.quantile(image, 0.7))
    config = config_for(tmp_path, store, [15, 15], {"name": "threshold", "threshold": {"value": value}})
    proc = snakemake(write_config(tmp_path, config))
    assert proc.returncode != 0
    assert f"input.store: {store} is not writable (Read-only file system)" in proc.stdout, proc.stdout[-3000:]
    assert "set output.store to a writable place" in proc.stdout
    assert not JOB_LINE.search(proc.stdout)
    assert not (tmp_path / "work").exists()

    config["output"] = {"store": str(tmp_path / "labels.zarr")}
    succeeded(snakemake(write_config(tmp_path, config)))
    assert same_partition(labels_of(tmp_path / "labels.zarr"), ndimage.label(image > value)[0])


# 8: a second run on the same label name, another work directory ----------------------------------
GATED_METHOD = '''
import time
from pathlib import Path
from scipy import ndimage


def segment(tile, value, gate):
    deadline = time.monotonic() + 300
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return ndimage.label(tile > value)[0]
'''


def test_second_run_for_the_same_labels_stops_before_any_job(tmp_path: Path) -> None:
    """While a run segments (its labels not yet written), a second run with another work directory
    but the same label name stops at parse time naming the first run; the first run finishes."""
    image = (ndimage.gaussian_filter(np.random.default_rng(6).random((20, 40)), 1) * 1000).astype("uint16")
    store = tmp_path / "image.ome.zarr"
    write_image(store, image, "yx")
    (tmp_path / "gated_method.py").write_text(GATED_METHOD)
    value = float(np.quantile(image, 0.7))
    gate = tmp_path / "open-the-gate"  # the first run's tiles wait for it: it is segmenting until then
    method = {"name": "custom",
              "custom": {"function": "gated_method:segment", "kwargs": {"value": value, "gate": str(gate)}}}
    first = write_config(tmp_path, config_for(tmp_path, store, [20, 20], method), "first.yaml")
    second_config = config_for(tmp_path, store, [20, 20], method)
    second_config["workdir"] = str(tmp_path / "other-work")
    second = write_config(tmp_path, second_config, "second.yaml")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    command = [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", str(first)]
    running = subprocess.Popen(command, cwd=RUN_DIR, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        stage_logs = tmp_path / "work" / "labels" / "logs" / "stage"  # Snakemake picks which tile goes first
        deadline = time.monotonic() + 120
        while not any(stage_logs.glob("*.log")) and time.monotonic() < deadline:  # segmenting
            time.sleep(0.2)
        assert any(stage_logs.glob("*.log"))
        proc = snakemake(second, pythonpath=tmp_path)
        assert running.poll() is None, "the first run should still be segmenting"
    finally:
        gate.touch()
        out, _ = running.communicate(timeout=300)
    assert running.returncode == 0, out[-3000:]
    assert proc.returncode != 0
    assert (f"output.label_name: a label image 'labels' already exists at {store}/labels/labels and belongs "
            f"to the run with work directory {tmp_path}/work/labels (not finished: that run may still be "
            "going)") in proc.stdout, proc.stdout[-3000:]
    assert not JOB_LINE.search(proc.stdout)
    assert same_partition(labels_of(store), ndimage.label(image > value)[0])


# 11: a tile shape that does not fit the pyramid -----------------------------------------------------------
def test_misaligned_tiles_name_the_axis_and_a_fix_that_is_accepted(tmp_path: Path) -> None:
    """Into a 3-level image, tiles of 30 along y do not fit: the message names 'y' and suggests a
    separate store with the levels these tiles allow, which then runs."""
    image = (ndimage.gaussian_filter(np.random.default_rng(7).random((64, 64)), 1) * 1000).astype("uint16")
    store = tmp_path / "image.ome.zarr"
    write_image(store, image, "yx", levels=3)
    before = tree_digest(store)
    value = float(np.quantile(image, 0.7))
    config = config_for(tmp_path, store, [30, 32], {"name": "threshold", "threshold": {"value": value}})
    proc = snakemake(write_config(tmp_path, config))
    assert proc.returncode != 0
    message = next(line for line in proc.stdout.splitlines() if "config error" in line)
    assert "tiling.tile_shape: 30 along 'y' is not a multiple of 4" in message
    assert "use 28 or 32 along 'y', or set output.store to write the labels to a separate store, where " \
           "pyramid.levels: 2 fits these tiles" in message
    assert tree_digest(store) == before

    config.update({"output": {"store": str(tmp_path / "labels.zarr")}, "pyramid": {"levels": 2}})
    succeeded(snakemake(write_config(tmp_path, config)))
    assert same_partition(labels_of(tmp_path / "labels.zarr"), ndimage.label(image > value)[0])


# a mask (bool) and a big-endian image ---------------------------------------------------------------
@pytest.mark.parametrize(("dtype", "value"), [("bool", 0), (">u2", "otsu")])
def test_masks_and_big_endian_images_run_every_step(tmp_path: Path, dtype: str, value: int | str) -> None:
    """A mask (bool, threshold 0) and a big-endian image (zarr v2 '>u2', as some converters write,
    Otsu's threshold) run every job, the report's figures included: the labels equal whole-image
    labelling, the table's intensities are numbers in native byte order (a mask's 0/1, uint8). Otsu's
    threshold of a mask (here the empty threshold) is 0: its all-False tile is skipped."""
    field = ndimage.gaussian_filter(np.random.default_rng(8).random((30, 40)), 1.5)
    field = (field - field.min()) / np.ptp(field)
    image = field > 0.6 if dtype == "bool" else (field * 1000).astype(dtype)
    if dtype == "bool":
        image[:15, :20] = False  # tile 0
    store = tmp_path / "image.ome.zarr"
    write_image(store, image, "yx", version="0.4", chunks=(10, 10))
    assert zarr.open_array(str(store / "0"), mode="r").dtype == image.dtype
    config = config_for(tmp_path, store, [15, 20], {"name": "threshold", "threshold": {"value": value}},
                        connectivity=2)
    config["tiling"].update({"skip_empty": True, "empty_threshold": "otsu"})
    succeeded(snakemake(write_config(tmp_path, config)))
    work = tmp_path / "work" / "labels"
    otsu = json.loads((work / "threshold.json").read_text())["value"]
    assert otsu == (0 if dtype == "bool" else float(threshold_otsu(image.astype(np.uint16))))
    assert json.loads((work / "stage" / "0.json").read_text())["skipped"] == (dtype == "bool")
    reference, n = ndimage.label(image > (otsu if value == "otsu" else value), np.ones((3, 3)))
    labels = labels_of(store)
    assert n > 3 and same_partition(labels, reference)
    table = pq.read_table(store / "labels" / "labels" / "objects.parquet").to_pandas()
    measured = np.uint8 if dtype == "bool" else np.uint16
    assert table["intensity_min"].dtype == table["intensity_max"].dtype == measured
    values, index = image.astype(np.float64), np.arange(1, n + 1)
    np.testing.assert_array_equal(table["intensity_min"], ndimage.minimum(values, labels, index))
    np.testing.assert_array_equal(table["intensity_max"], ndimage.maximum(values, labels, index))
    np.testing.assert_allclose(table["intensity_mean"], ndimage.mean(values, labels, index), rtol=1e-12)
    assert (work / "report" / "overview.png").stat().st_size > 0
