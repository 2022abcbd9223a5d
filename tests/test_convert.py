"""Microscope files in: conversion to OME-Zarr as the workflow's first step.

Real files from the formats' own writers (tifffile, pylibCZIrw, h5py in Imaris' layout), each run
end to end with the real ``snakemake``: the labels land in the converted OME-Zarr (beside the
workdir), carry the file's calibration in their NGFF metadata, and equal whole-image
``scipy.ndimage.label`` up to renumbering.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import microscope_files as mf
import numpy as np
import pytest
import zarr
from ome_zarr_models.v05.image import Image as Image05
from ome_zarr_models.v05.image_label import ImageLabel as ImageLabel05
from runs import JOB_LINE, RUN_DIR, blobs, listed_labels, snakemake, succeeded, write_config
from scipy import ndimage
from snakelog import jobs_finished, jobs_run, started_jobs
from test_exactness import assert_same_labels

from patchworks.convert.conversion import Conversion
from patchworks.convert.units import ngff_unit
from patchworks.pipeline import local
from patchworks.pipeline.config import validate_config
from patchworks.plugins.ome_zarr import to_ome_zarr

VALUE = 300  # threshold on blobs (0..1000)


@dataclass
class Case:
    """A file, what it holds (the channel segmented: z, y, x or y, x) and what it declares."""

    name: str
    write: Callable[[Path], np.ndarray]  # writes the file, returns all its pixels (c, spatial...)
    scale: tuple[float, ...]  # expected NGFF scale of the spatial axes
    unit: str | None
    tile: list[int]
    channel: int = 0
    scene: int | None = None
    channel_names: list[str] | None = None
    levels: int | str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)


def _stack(seed: int, channels: int = 1, shape: tuple[int, ...] = (8, 24, 28)) -> np.ndarray:
    return np.stack([blobs(shape, seed + c) for c in range(channels)])


def _ome(path: Path) -> np.ndarray:
    data = _stack(1)
    mf.ome_tiff(path, data[0], "zyx", (1.5, 0.25, 0.25))
    return data


def _plain(path: Path) -> np.ndarray:
    data = _stack(2, shape=(48, 40))
    mf.plain_tiff(path, data[0])
    return data


def _imagej(path: Path) -> np.ndarray:
    data = _stack(3)
    mf.imagej_tiff(path, data[0], (2.0, 0.5, 0.5))
    return data


def _czi(path: Path) -> np.ndarray:
    data = _stack(4, channels=2)
    mf.czi(path, data, (1.0, 0.2, 0.2), ["DAPI", "GFP"])
    return data


def _ims(path: Path) -> np.ndarray:
    data = _stack(5, channels=2)
    mf.imaris(path, data, (2.5, 0.4, 0.4), channel_names=["DAPI", "GFP"])
    return data


def _scenes(path: Path) -> np.ndarray:
    first, second = blobs((4, 16, 20), 6), blobs((8, 24, 28), 7)
    mf.two_scene_ome_tiff(path, [first, second], [(1.0, 1.0, 1.0), (2.0, 0.3, 0.3)])
    return second[None]


CASES = [
    # the issue's "done when": a calibrated 3-D OME-TIFF; two levels, to check the pyramids too
    Case("scan.ome.tif", _ome, (1.5, 0.25, 0.25), "micrometer", [4, 24, 14], levels=2),
    Case("plain.tif", _plain, (1.0, 1.0), None, [24, 20]),  # 2-D, no calibration at all
    Case("stack.tif", _imagej, (2.0, 0.5, 0.5), "micrometer", [4, 12, 28]),
    Case("scan.czi", _czi, (1.0, 0.2, 0.2), "micrometer", [4, 24, 14], channel=1,
         channel_names=["DAPI", "GFP"]),
    Case("scan.ims", _ims, (2.5, 0.4, 0.4), "micrometer", [4, 24, 14], channel=1,
         channel_names=["DAPI", "GFP"]),
    Case("scenes.ome.tif", _scenes, (2.0, 0.3, 0.3), "micrometer", [4, 24, 14], scene=1),
]


def config_for(tmp: Path, source: Path, case: Case, **changes: Any) -> dict[str, Any]:
    config = {
        "input": {"store": str(source), "channel": case.channel, "scene": case.scene},
        "workdir": str(tmp / "work"),
        "tiling": {"tile_shape": case.tile, "overlap": 0},
        "method": {"name": "threshold", "threshold": {"value": VALUE}},
        "convert": {"levels": case.levels},
    }
    for key, value in changes.items():
        config[key] = {**config.get(key, {}), **value}
    return config


def converted(tmp: Path, case: Case) -> Path:
    """The documented default place: beside the workdir, named after the file (and its scene)."""
    stem = case.name.removesuffix(".ome.tif").removesuffix(".tif").rsplit(".", 1)[0]
    return tmp / f"{stem}{'' if case.scene is None else f'_{case.scene}'}.ome.zarr"


def halved(data: np.ndarray) -> np.ndarray:
    """The expected next pyramid level of c, z, y, x pixels: rounded means of 2 x 2 blocks in y/x (an
    odd last row or column repeated), z kept."""
    out = data.astype(np.float64)
    for axis in (2, 3):
        if out.shape[axis] % 2:
            out = np.concatenate([out, np.take(out, [-1], axis=axis)], axis=axis)
        out = out.reshape(out.shape[:axis] + (out.shape[axis] // 2, 2) + out.shape[axis + 1:]).mean(axis + 1)
    return np.rint(out).astype(data.dtype)


def reference(data: np.ndarray, connectivity: int = 1) -> np.ndarray:
    return ndimage.label(data > VALUE, ndimage.generate_binary_structure(data.ndim, connectivity))[0]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_microscope_file_end_to_end(tmp_path: Path, case: Case) -> None:
    """snakemake on a microscope file: converted beside the workdir, labels inside it, listed, with the
    file's calibration, equal to whole-image labelling."""
    source = tmp_path / case.name
    data = case.write(source)
    proc = snakemake(write_config(tmp_path, config_for(tmp_path, source, case)))
    succeeded(proc)
    assert {"convert_init", "convert_finish"} <= {j.split("[")[0] for j in jobs_run(proc.stdout)}

    store = converted(tmp_path, case)
    image = zarr.open_group(str(store), mode="r")
    Image05.from_zarr(image)  # valid NGFF 0.5 image
    ms = image.attrs["ome"]["multiscales"][0]
    spatial = [a for a in ms["axes"] if a["type"] == "space"]
    assert [a.get("unit") for a in spatial] == [case.unit] * len(spatial)
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"][-len(spatial):] == \
        pytest.approx(case.scale, rel=1e-6)
    if case.channel_names:
        assert [c["label"] for c in image.attrs["ome"]["omero"]["channels"]] == case.channel_names
    level0 = image["0"][...]
    assert np.array_equal(level0.reshape(data.shape), data)  # every channel, bit for bit

    assert listed_labels(store, "0.5") == ["labels"]
    labels = zarr.open_group(str(store / "labels" / "labels"), mode="r")
    ImageLabel05.from_zarr(labels)
    lms = labels.attrs["ome"]["multiscales"][0]
    assert lms["axes"] == spatial  # the image's spatial axes only
    assert lms["datasets"][0]["coordinateTransformations"][0]["scale"][-len(spatial):] == \
        pytest.approx(case.scale, rel=1e-6)
    assert labels["0"].shape == data.shape[1:]
    assert_same_labels(reference(data[case.channel]), labels["0"][...])

    if case.levels == 2:  # X/Y-only pyramids: z kept, y/x halved, built from level 0 on disk
        assert image["1"].shape == (1, 8, 12, 14)
        assert np.array_equal(image["1"][...], halved(level0))
        assert len(lms["datasets"]) == 2
        image_level1 = ms["datasets"][1]["coordinateTransformations"]  # the labels': its spatial axes
        assert lms["datasets"][1]["coordinateTransformations"] == [
            {"type": t["type"], t["type"]: t[t["type"]][1:]} for t in image_level1]
        assert lms["datasets"][1]["coordinateTransformations"][0]["scale"] == pytest.approx([1.5, 0.5, 0.5])


def test_reused_while_unchanged_redone_when_changed(tmp_path: Path) -> None:
    """A finished conversion is reused (another label name, the Python API: no pixel rewritten); the
    same command does nothing; a changed file converts again and the labels follow it."""
    case = Case("scan.ome.tif", _ome, (1.5, 0.25, 0.25), "micrometer", [4, 24, 28])
    source = tmp_path / case.name
    case.write(source)
    cfg = write_config(tmp_path, config_for(tmp_path, source, case))
    succeeded(snakemake(cfg))
    store = converted(tmp_path, case)
    chunks = {p: p.stat().st_mtime_ns for p in (store / "0").rglob("*") if p.is_file()}

    again = snakemake(cfg)
    succeeded(again)
    assert not JOB_LINE.search(again.stdout), "an unchanged file and config ran jobs again"

    other = validate_config(config_for(tmp_path, source, case, output={"label_name": "other"}))
    local.run(other)
    assert Path(tmp_path / "work" / "other" / "convert_init.json").read_text().count('"reused": true')
    assert {p: p.stat().st_mtime_ns for p in (store / "0").rglob("*") if p.is_file()} == chunks
    assert listed_labels(store, "0.5") == ["labels", "other"]

    changed = blobs((8, 24, 28), 99)
    mf.ome_tiff(source, changed, "zyx", (1.5, 0.25, 0.25))
    redo = snakemake(cfg)
    succeeded(redo)
    assert "convert_init" in jobs_run(redo.stdout)
    assert np.array_equal(zarr.open_array(str(store / "0"))[0], changed)
    assert_same_labels(reference(changed), zarr.open_array(str(store / "labels" / "labels" / "0"))[...])


def kill_at_start_of(cfg: Path, rule: str) -> str:
    """Run the workflow; SIGKILL Snakemake and its jobs as soon as a ``rule`` job starts."""
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", str(cfg)],
                            cwd=RUN_DIR, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)
            if line.removeprefix("local").startswith(f"rule {rule}:"):
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert started.wait(300), f"no {rule} job started:\n" + "".join(lines[-40:])
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(10)
    return "".join(lines)


def test_killed_conversion_is_never_taken_as_finished_and_resumes(tmp_path: Path) -> None:
    """kill -9 while the slabs convert: the store is not complete (not reused, nothing listed); the
    documented recovery reruns only unfinished jobs and gives the labels of an uninterrupted run."""
    data = blobs((8, 24, 28), 11)
    source = tmp_path / "scan.ome.tif"
    mf.ome_tiff(source, data, "zyx", (1.0, 0.5, 0.5))
    case = Case("scan.ome.tif", lambda p: data, (1.0, 0.5, 0.5), "micrometer", [2, 24, 28])
    config = config_for(tmp_path, source, case)
    cfg = write_config(tmp_path, config)

    killed = kill_at_start_of(cfg, "convert")
    finished = jobs_finished(killed)
    assert "convert_finish" not in finished
    store = converted(tmp_path, case)
    assert not Conversion.from_config(validate_config(config)).is_done()
    assert "ome" not in zarr.open_group(str(store), mode="r").attrs  # no NGFF metadata yet
    assert listed_labels(store, "0.5") == []

    unlock = snakemake(cfg, "--unlock")
    succeeded(unlock)
    rerun = snakemake(cfg, "--rerun-incomplete")
    succeeded(rerun)
    again = jobs_run(rerun.stdout)
    assert not again & finished, f"finished jobs rerun: {sorted(again & finished)}"
    assert set(started_jobs(killed).values()) - finished <= again | {"convert_init"}
    assert np.array_equal(zarr.open_array(str(store / "0"))[0], data)
    assert_same_labels(reference(data), zarr.open_array(str(store / "labels" / "labels" / "0"))[...])
    assert listed_labels(store, "0.5") == ["labels"]


def _truncate(path: Path, fraction: float = 0.6) -> None:
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * fraction)])


BAD_FILES = {
    # id: (file name, how to spoil it, config changes, substrings of the message)
    "truncated-ome-tiff": ("scan.ome.tif", _truncate, {}, ["scan.ome.tif", "truncated"]),
    "truncated-czi": ("scan.czi", _truncate, {}, ["scan.czi", "bioio-czi", "truncated"]),
    "truncated-ims": ("scan.ims", _truncate, {}, ["scan.ims", "Imaris", "truncated"]),
    "unsupported-format": ("scan.xyz", None, {},
                           ["scan.xyz", "no installed reader", "patchworks[bioformats]"]),
    "scenes-none-chosen": ("scenes.ome.tif", None, {}, ["input.scene", "2 scenes", "0: 'Image:0'",
                                                        "1: 'Image:1'"]),
    "scene-not-in-file": ("scenes.ome.tif", None, {"input": {"scene": 5}}, ["input.scene", "5", "Image:1"]),
    "levels-too-many": ("scan.ome.tif", None, {"convert": {"levels": 9}}, ["convert.levels", "at most"]),
    "store-not-ours": ("scan.ome.tif", None, {"convert": {"store": "{tmp}/mine"}},
                       ["convert.store", "not written by a patchworks conversion"]),
}
WRITERS = {"scan.ome.tif": _ome, "scan.czi": _czi, "scan.ims": _ims, "scenes.ome.tif": _scenes}


@pytest.mark.parametrize(("name", "spoil", "changes", "needles"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_file_stops_at_parse_time(tmp_path: Path, name: str, spoil: Callable | None,
                                      changes: dict[str, Any], needles: list[str]) -> None:
    """A truncated, unsupported or ambiguous file (or a bad conversion setting) stops the run before
    any job, with a message naming the file, what is wrong and the fix."""
    source = tmp_path / name
    if name in WRITERS:
        WRITERS[name](source)
    else:
        source.write_bytes(b"not an image")
    if spoil:
        spoil(source)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("a user's own folder")
    case = Case(name, WRITERS.get(name, _ome), (), None, [4, 24, 14])
    changes = {k: {kk: vv.format(tmp=tmp_path) if isinstance(vv, str) else vv for kk, vv in v.items()}
               for k, v in changes.items()}
    proc = snakemake(write_config(tmp_path, config_for(tmp_path, source, case, **changes)))
    assert proc.returncode != 0
    error = [line for line in proc.stdout.splitlines() if "config error" in line]
    assert error, proc.stdout[-3000:]
    for needle in needles:
        assert needle in error[0], error[0]
    assert not JOB_LINE.search(proc.stdout)
    assert not (tmp_path / "work").exists()
    assert (tmp_path / "mine" / "notes.txt").exists()


def test_damaged_pixels_stop_before_segmentation(tmp_path: Path) -> None:
    """A file whose header reads but whose pixels do not: the conversion job fails naming the file,
    and no segmentation job starts."""
    source = tmp_path / "scan.ims"
    _ims(source)
    mf.corrupt_imaris_chunk(source, channel=1)
    case = Case("scan.ims", _ims, (), None, [4, 24, 14], channel=1)
    proc = snakemake(write_config(tmp_path, config_for(tmp_path, source, case)))
    assert proc.returncode != 0
    assert "convert" in {j.split("[")[0] for j in jobs_run(proc.stdout)}
    assert not {"prepare", "stage"} & {j.split("[")[0] for j in jobs_run(proc.stdout)}
    assert "patchworks convert failed: InputError: input.store:" in proc.stdout
    assert f"{source}: reading t=0, c=1" in proc.stdout and "damaged" in proc.stdout
    summary = r"patchworks: \d job\(s\) failed:\n  convert \d+: InputError: input.store: "
    assert re.search(summary, proc.stdout), proc.stdout[-3000:]


def test_to_ome_zarr_as_the_seed_calls_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``to_ome_zarr("scan.ims", "scan.zarr")``: calibrated, channel names kept, pyramid y/x only
    (z kept) down to <= 256, valid NGFF; called again on the unchanged file it rewrites nothing."""
    monkeypatch.chdir(tmp_path)
    data = np.stack([blobs((3, 600, 520), 21), blobs((3, 600, 520), 22)])
    mf.imaris(tmp_path / "scan.ims", data, (3.0, 0.2, 0.2), channel_names=["nuclei", "membrane"],
              block=(2, 64, 64))
    to_ome_zarr("scan.ims", "scan.zarr")
    group = zarr.open_group("scan.zarr", mode="r")
    Image05.from_zarr(group)
    assert [group[k].shape for k in "012"] == [(2, 3, 600, 520), (2, 3, 300, 260), (2, 3, 150, 130)]
    assert "3" not in group
    assert np.array_equal(group["0"][...], data)
    assert np.array_equal(group["2"][...], halved(halved(data)))
    ms = group.attrs["ome"]["multiscales"][0]
    assert [a.get("unit") for a in ms["axes"]] == [None, "micrometer", "micrometer", "micrometer"]
    assert ms["datasets"][2]["coordinateTransformations"][0]["scale"] == pytest.approx([1, 3.0, 0.8, 0.8])
    assert [c["label"] for c in group.attrs["ome"]["omero"]["channels"]] == ["nuclei", "membrane"]
    stamp = (tmp_path / "scan.zarr" / "zarr.json").stat().st_mtime_ns
    to_ome_zarr("scan.ims", "scan.zarr")
    assert (tmp_path / "scan.zarr" / "zarr.json").stat().st_mtime_ns == stamp


def test_patchworks_convert_command(tmp_path: Path) -> None:
    """``patchworks convert SRC DST``: nanometers stay nanometers; several scenes need --scene."""
    data = _stack(31, channels=2)
    mf.ome_tiff(tmp_path / "nm.ome.tif", data.transpose(1, 0, 2, 3), "zcyx", (200.0, 50.0, 50.0),
                unit="nm", channel_names=["a", "b"])
    bin_dir = Path(sys.executable).parent
    run = subprocess.run([bin_dir / "patchworks", "convert", tmp_path / "nm.ome.tif", tmp_path / "nm.zarr"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "z=200 nanometer, y=50 nanometer, x=50 nanometer" in run.stdout
    assert np.array_equal(zarr.open_array(str(tmp_path / "nm.zarr" / "0"))[...], data)

    _scenes(tmp_path / "scenes.ome.tif")
    convert = [bin_dir / "patchworks", "convert", tmp_path / "scenes.ome.tif", tmp_path / "s.zarr"]
    run = subprocess.run(convert, capture_output=True, text=True)
    assert run.returncode == 2
    assert "2 scenes (0: 'Image:0', 1: 'Image:1')" in run.stderr and "--scene" in run.stderr
    run = subprocess.run([*convert, "--scene", "Image:1"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert zarr.open_array(str(tmp_path / "s.zarr" / "0")).shape == (1, 8, 24, 28)
    status = subprocess.run([bin_dir / "patchworks", "status", "--help"], capture_output=True, text=True)
    assert status.returncode == 0 and "patchworks-status" in status.stdout


UNITS = [("µm", "micrometer"), ("um", "micrometer"), ("micron", "micrometer"), ("\\u00B5m", "micrometer"),
         ("nm", "nanometer"), ("mm", "millimeter"), ("Å", "angstrom"), ("micrometer", "micrometer"),
         ("pixel", None), (None, None), ("furlong", None)]


@pytest.mark.parametrize(("given", "ngff"), UNITS)
def test_units_normalised_to_ngff(given: str | None, ngff: str | None) -> None:
    assert ngff_unit(given) == ngff
