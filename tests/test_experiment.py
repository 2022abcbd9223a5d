"""Many images in one run (issue 30), through real ``snakemake`` runs: a sheet mixing 2-D, 3-D and
multi-channel OME-Zarr images and a scene of a two-scene OME-TIFF; a glob with ``scene: all``; an HCS
plate written by ome-zarr-py; a damaged file under ``--keep-going``; rows added, edited and removed.
Each image's labels equal whole-image labelling, and the experiment's table equals the images' own."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import microscope_files as mf
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
import zarr
from runs import REPO, RUN_DIR, blobs, make_image, snakemake, succeeded, write_config
from scipy import ndimage
from snakelog import jobs_run
from test_exactness import assert_same_labels

from patchworks.errors import ConfigError
from patchworks.experiment.sheet import read_sheet
from patchworks.io.images import write_image
from patchworks.io.ngff import read_image_info
from patchworks.methods.threshold import label_above
from patchworks.pipeline.config import load_config

LABEL = "cells"


def config_for(tmp: Path, **inp: Any) -> dict[str, Any]:
    return {"input": inp, "output": {"label_name": LABEL}, "workdir": str(tmp / "work"),
            "tiling": {"tile_shape": 16, "overlap": 0}, "method": {"name": "threshold"}}


def image_dir(tmp: Path, image: str) -> Path:
    return tmp / "work" / LABEL / "images" / image


def expected(data: np.ndarray, tmp: Path, image: str) -> np.ndarray:
    """Whole-image labelling of ``data`` above the image's own Otsu threshold (its threshold job's)."""
    value = json.loads((image_dir(tmp, image) / "threshold.json").read_text())["value"]
    labels, _ = ndimage.label(data > value)
    return labels


def labels_of(store: Path) -> np.ndarray:
    return zarr.open_array(str(store / "labels" / LABEL / "0"), mode="r")[...]


def table(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def write_sheet(tmp: Path, rows: list[str]) -> Path:
    sheet = tmp / "images.tsv"
    sheet.write_text("image\tstore\tchannel\tscene\n" + "".join(row + "\n" for row in rows))
    return sheet


SHEET = ["flat\tflat.ome.zarr\t\t", "vol\tvol.ome.zarr\t\t", "multi\tmulti.ome.zarr\t1\t",
         "second\tscenes.ome.tiff\t\t1"]


@pytest.fixture(scope="module")
def sheet_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray], Any]:
    """A sheet (relative stores) of a 2-D, a 3-D (NGFF 0.4), a 2-channel image (channel 1) and the
    second scene of a two-scene OME-TIFF: one snakemake run."""
    tmp = tmp_path_factory.mktemp("sheet")
    data = {"flat": make_image(tmp / "flat.ome.zarr", "yx", (48, 40), seed=1),
            "vol": make_image(tmp / "vol.ome.zarr", "zyx", (12, 30, 26), seed=2, version="0.4"),
            "multi": make_image(tmp / "multi.ome.zarr", "cyx", (40, 36), channels=2, seed=3)[1]}
    scenes = [blobs((6, 30, 28), 4), blobs((5, 26, 30), 5)]
    mf.two_scene_ome_tiff(tmp / "scenes.ome.tiff", scenes, [(2.0, 0.5, 0.5), (1.0, 0.5, 0.5)])
    data["second"] = scenes[1]
    write_sheet(tmp, SHEET)
    config = write_config(tmp, config_for(tmp, sheet=str(tmp / "images.tsv")))
    proc = snakemake(config)
    succeeded(proc)
    return tmp, data, proc


def test_each_image_of_a_sheet_equals_whole_image_labelling(sheet_run) -> None:
    tmp, data, _ = sheet_run
    stores = {"flat": tmp / "flat.ome.zarr", "vol": tmp / "vol.ome.zarr", "multi": tmp / "multi.ome.zarr",
              "second": tmp / "second.ome.zarr"}  # a microscope file is converted beside the work folder
    for image, store in stores.items():
        assert_same_labels(expected(data[image], tmp, image), labels_of(store))
    rows = table(tmp / "work" / LABEL / "images.tsv")
    assert [row["image"] for row in rows] == list(stores)
    for row in rows:
        assert row["labels"] == str(stores[row["image"]] / "labels" / LABEL)
        assert int(row["objects"]) == int(labels_of(stores[row["image"]]).max())
        assert row["status"] == "published"
    assert rows[0]["store"] == str(tmp / "flat.ome.zarr")  # relative to the sheet's folder


def test_the_experiment_table_is_the_images_tables(sheet_run) -> None:
    tmp, _, _ = sheet_run
    combined = pq.read_table(tmp / "work" / LABEL / "objects.parquet")
    assert combined.column_names[0] == "image"
    for image, store in [("flat", "flat.ome.zarr"), ("vol", "vol.ome.zarr"), ("multi", "multi.ome.zarr"),
                         ("second", "second.ome.zarr")]:
        own = pq.read_table(tmp / store / "labels" / LABEL / "objects.parquet")
        part = combined.filter(pc.equal(combined["image"], image))
        others = set(part.column_names) - set(own.column_names) - {"image"}  # z columns of 3-D images
        assert all(part[name].null_count == part.num_rows for name in others)
        assert part.select(own.column_names).cast(own.schema).equals(own)


def test_status_reports_each_image(sheet_run) -> None:
    tmp, _, _ = sheet_run
    status = subprocess.run([sys.executable, "-m", "patchworks.pipeline.status", str(tmp / "config.yaml")],
                            cwd=RUN_DIR, capture_output=True, text=True)
    assert status.returncode == 0, status.stderr
    for image in ("flat", "vol", "multi", "second"):
        assert re.search(rf"^{image} +published +\d+ +\d+$", status.stdout, re.M), status.stdout


def test_the_report_has_an_experiment_page(sheet_run) -> None:
    """``snakemake --report``: the experiment's table and pictures, and every image's own pictures."""
    tmp, _, _ = sheet_run
    succeeded(snakemake(tmp / "config.yaml", "--report", str(tmp / "report.zip")))
    with zipfile.ZipFile(tmp / "report.zip") as report:
        names = [Path(n).name for n in report.namelist()]
    assert {"images.tsv", "experiment.png", "gallery.png"} <= set(names), names
    assert names.count("overview.png") == 4 and names.count("seams.tsv") == 4, names
    rows = table(tmp / "work" / LABEL / "images.tsv")
    assert all(0 <= float(row["inside_rate"]) <= 1 for row in rows), rows


def test_the_python_api_runs_a_sheet_as_the_workflow_does(sheet_run) -> None:
    """``patchworks.run`` with the same sheet (labels to a separate store: one store per image inside it)
    runs the same steps in this process: the same labels and the experiment's tables."""
    import patchworks

    tmp, _, _ = sheet_run
    config = config_for(tmp, sheet=str(tmp / "images.tsv"))
    config["workdir"], config["output"]["store"] = str(tmp / "api-work"), str(tmp / "api-labels")
    plans = patchworks.run(config)
    assert [plan.config["image"] for plan in plans] == ["flat", "vol", "multi", "second"]
    for image, store in [("flat", "flat.ome.zarr"), ("vol", "vol.ome.zarr"), ("multi", "multi.ome.zarr"),
                         ("second", "second.ome.zarr")]:
        api = zarr.open_array(str(tmp / "api-labels" / f"{image}.zarr" / "labels" / LABEL / "0"), mode="r")
        np.testing.assert_array_equal(api[...], labels_of(tmp / store))
    rows = table(tmp / "api-work" / LABEL / "images.tsv")
    assert [row["image"] for row in rows] == ["flat", "vol", "multi", "second"]
    assert pq.read_table(tmp / "api-work" / LABEL / "objects.parquet").num_rows == sum(
        int(row["objects"]) for row in rows)


def test_bad_sheets_are_config_errors_naming_line_and_column(tmp_path: Path) -> None:
    cases = {
        "image\tstore\tcolour\na\ta.zarr\tred\n": "unknown column 'colour'",
        "image\tstore\tchannel\na\ta.zarr\tone\n": "line 2 (image 'a'), column channel: 'one' is not of type",
        "image\tstore\na b\ta.zarr\n": "line 2 (image 'a b'), column image",
        "image\tstore\na\ta.zarr\nb\tb.zarr\na\tc.zarr\n": "line 4: image 'a' is already on line 2",
        "image\tstore\n": "lists no image",
    }
    for text, message in cases.items():
        (tmp_path / "images.tsv").write_text(text)
        with pytest.raises(ConfigError, match=re.escape(message)):
            read_sheet(tmp_path / "images.tsv")
    (tmp_path / "images.csv").write_text("image,store,level\na,sub/a.zarr,1\n")
    assert read_sheet(tmp_path / "images.csv") == [{"image": "a", "store": str(tmp_path / "sub/a.zarr"),
                                                     "level": 1}]


def test_a_glob_of_files_with_every_scene(tmp_path: Path) -> None:
    """``input.store: <dir>/*.ome.tiff`` and ``scene: all``: one image per scene of each file, named
    ``<file>_s<index>``, each exact."""
    scans = {"a": [blobs((4, 20, 24), 8), blobs((3, 18, 20), 9)], "b": [blobs((4, 22, 18), 10)]}
    for name, scenes in scans.items():
        (tmp_path / "data").mkdir(exist_ok=True)
        mf.two_scene_ome_tiff(tmp_path / "data" / f"{name}.ome.tiff", scenes, [(1.0, 0.5, 0.5)] * len(scenes))
    config = config_for(tmp_path, store=str(tmp_path / "data" / "*.ome.tiff"), scene="all")
    succeeded(snakemake(write_config(tmp_path, config)))
    rows = table(tmp_path / "work" / LABEL / "images.tsv")
    assert [row["image"] for row in rows] == ["a_s0", "a_s1", "b_s0"]
    for image, data in [("a_s0", scans["a"][0]), ("a_s1", scans["a"][1]), ("b_s0", scans["b"][0])]:
        assert_same_labels(expected(data, tmp_path, image), labels_of(tmp_path / f"{image}.ome.zarr"))


def test_a_time_series_is_one_label_image_with_a_t_axis(tmp_path: Path) -> None:
    """``timepoint: all`` on a t, y, x OME-Zarr: every timepoint segmented on its own (its own Otsu
    threshold, objects never joined across time) into one label image with the t axis, numbered 1..N_t
    per timepoint as a labelling of that frame alone, at every level; one object table with a ``t``
    column; an NGFF reader opens it; --verify checks every timepoint's tiles."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    data = np.stack([blobs((40, 36), 50 + t) for t in range(3)])
    data[1, 10:30, 10:30] = data[0, 10:30, 10:30].max()  # a big object, at t=1 only
    store = tmp_path / "movie.ome.zarr"
    write_image(store, data, "tyx", levels=2)
    cfg = write_config(tmp_path, config_for(tmp_path, store=str(store), timepoint="all"))
    succeeded(snakemake(cfg))
    group = zarr.open_group(str(store / "labels" / LABEL), mode="r")
    assert [a["name"] for a in group.attrs["ome"]["multiscales"][0]["axes"]] == ["t", "y", "x"]
    assert group["0"].shape == (3, 40, 36) and group["1"].shape == (3, 20, 18)
    objects = pq.read_table(store / "labels" / LABEL / "objects.parquet")
    for t in range(3):
        frame = group["0"][t]
        assert_same_labels(expected(data[t], tmp_path, f"movie_t{t}"), frame)
        own = pq.read_table(image_dir(tmp_path, f"movie_t{t}") / "objects.parquet")
        rows = objects.filter(pc.equal(objects["t"], t))
        assert rows.drop(["t"]).cast(own.schema).equals(own)
        assert np.array_equal(np.bincount(frame.ravel())[1:], own["voxels"].to_numpy())
    nodes = list(Reader(parse_url(str(store / "labels" / LABEL)))())
    assert nodes and nodes[0].data[0].shape == (3, 40, 36)
    rows = table(tmp_path / "work" / LABEL / "images.tsv")
    assert [(r["image"], r["t"]) for r in rows] == [("movie", "0"), ("movie", "1"), ("movie", "2")], rows
    status = subprocess.run([sys.executable, "-m", "patchworks.pipeline.status", str(cfg), "--verify"],
                            cwd=RUN_DIR, capture_output=True, text=True)
    assert status.returncode == 0 and status.stdout.count("0 damaged") == 3, status.stdout


def write_plate(path: Path) -> dict[str, np.ndarray]:
    """An NGFF HCS plate (2 wells, 2 fields each) written by ome-zarr-py; each field's data by id."""
    from ome_zarr.io import parse_url
    from ome_zarr.writer import write_image, write_plate_metadata, write_well_metadata

    root = zarr.open_group(parse_url(str(path), mode="w").store, mode="w")
    wells, data = ["A/1", "B/3"], {}
    write_plate_metadata(root, ["A", "B"], ["1", "2", "3"], wells, field_count=2)
    for w, well_path in enumerate(wells):
        row, column = well_path.split("/")
        well = root.require_group(row).require_group(column)
        write_well_metadata(well, [{"path": "0"}, {"path": "1"}])
        for field in range(2):
            image = blobs((36, 28), 20 + 2 * w + field)
            write_image(image, well.require_group(str(field)), axes="yx")
            data[f"{row}{column}_{field}"] = image
    return data


def test_an_hcs_plate_labels_every_field_in_its_own_labels_group(tmp_path: Path) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    plate = tmp_path / "plate.ome.zarr"
    data = write_plate(plate)
    succeeded(snakemake(write_config(tmp_path, config_for(tmp_path, store=str(plate)))))
    assert [row["image"] for row in table(tmp_path / "work" / LABEL / "images.tsv")] == list(data)
    for image, pixels in data.items():
        field = plate / image[0] / image[1:].split("_")[0] / image.split("_")[1]
        assert_same_labels(expected(pixels, tmp_path, image), labels_of(field))
        nodes = list(Reader(parse_url(str(field / "labels" / LABEL)))())
        assert nodes and nodes[0].data[0].shape == pixels.shape  # a label image a reader opens
    assert read_image_info(plate / "A" / "1" / "0").spatial_shape == (36, 28)  # the field, not a copy


def test_a_damaged_file_fails_only_its_own_image(tmp_path: Path) -> None:
    """Under --keep-going, an Imaris file whose pixels cannot be read fails its conversion job; the
    other image is published, and patchworks-status names the failed image."""
    good = make_image(tmp_path / "good.ome.zarr", "yx", (40, 32), seed=11)
    mf.imaris(tmp_path / "bad.ims", np.stack([blobs((4, 16, 16), 12)]), (1.0, 0.5, 0.5))
    mf.corrupt_imaris_chunk(tmp_path / "bad.ims", channel=0)
    write_sheet(tmp_path, ["good\tgood.ome.zarr\t\t", "bad\tbad.ims\t\t"])
    config = write_config(tmp_path, config_for(tmp_path, sheet=str(tmp_path / "images.tsv")))
    proc = snakemake(config, "--keep-going")
    assert proc.returncode != 0
    assert_same_labels(expected(good, tmp_path, "good"), labels_of(tmp_path / "good.ome.zarr"))
    assert (image_dir(tmp_path, "good") / "published.json").exists()
    assert "bad: convert 0: InputError: input.store:" in proc.stdout, proc.stdout[-3000:]
    status = subprocess.run([sys.executable, "-m", "patchworks.pipeline.status", str(config)],
                            cwd=RUN_DIR, capture_output=True, text=True)
    assert status.returncode == 1
    assert re.search(r"^good +published", status.stdout, re.M) and re.search(r"^bad +failed", status.stdout,
                                                                             re.M), status.stdout


PRESETS = sorted((REPO / "config" / "presets").glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_a_preset_composes_with_an_images_config(tmp_path: Path, preset: Path) -> None:
    """``--configfile <preset> my-images.yaml``: the preset's method and tiling, the images config's input,
    the schema's defaults for the rest; an unknown key in either is still a config error."""
    images = write_config(tmp_path, {"input": {"store": str(tmp_path / "*.ome.zarr")},
                                     "workdir": str(tmp_path / "work")}, "my-images.yaml")
    given = yaml.safe_load(preset.read_text())
    config = load_config([preset, images])
    assert config["input"]["store"] == str(tmp_path / "*.ome.zarr")
    for section, values in given.items():
        for key, value in values.items() if isinstance(values, dict) else [(None, values)]:
            got = config[section] if key is None else config[section][key]
            assert got == value if not isinstance(value, dict) else value.items() <= got.items()
    assert config["pyramid"]["levels"] == "auto" and config["output"]["label_name"] == "labels"  # defaults
    (tmp_path / "typo.yaml").write_text("tilling: {tile_shape: 64}\n")
    with pytest.raises(ConfigError, match="tilling"):
        load_config([preset, images, tmp_path / "typo.yaml"])


def test_the_threshold_preset_runs_on_a_glob_exactly(tmp_path: Path) -> None:
    """The shipped threshold preset and an images config, composed as the README shows (the images
    config also sets the tiles: the later file wins, key by key)."""
    data = {name: make_image(tmp_path / f"{name}.ome.zarr", "yx", (60, 50), seed=s)
            for name, s in (("one", 31), ("two", 32))}
    images = write_config(tmp_path, {"input": {"store": str(tmp_path / "*.ome.zarr")},
                                     "workdir": str(tmp_path / "work"), "output": {"label_name": LABEL},
                                     "tiling": {"tile_shape": 24}}, "my-images.yaml")
    succeeded(snakemake(REPO / "config" / "presets" / "nuclei-threshold.yaml", str(images)))
    for name, pixels in data.items():
        value = json.loads((image_dir(tmp_path, name) / "threshold.json").read_text())["value"]
        whole = label_above(pixels, value, connectivity=1, sigma=2.0)  # the whole image at once
        assert_same_labels(whole, labels_of(tmp_path / f"{name}.ome.zarr"))


def images_of(jobs: set[str]) -> set[str]:
    """The images whose jobs ran (rule[image=..., ...])."""
    return {m.group(1) for job in jobs if (m := re.search(r"image=([^,\]]+)", job))}


def test_rows_added_edited_and_removed_rerun_only_their_image(sheet_run) -> None:
    """Adding a row runs the new image and the experiment's tables only; editing a row reruns that
    image only; removing one drops it from the tables and leaves its labels alone. (Last in this file:
    it changes the sheet of the runs above.)"""
    tmp, data, _ = sheet_run
    config = tmp / "config.yaml"
    data["late"] = make_image(tmp / "late.ome.zarr", "yx", (30, 20), seed=13)
    write_sheet(tmp, [*SHEET, "late\tlate.ome.zarr\t\t"])
    added = snakemake(config)
    succeeded(added)
    assert images_of(jobs_run(added.stdout)) == {"late"}
    assert {"experiment", "all"} <= jobs_run(added.stdout)
    assert_same_labels(expected(data["late"], tmp, "late"), labels_of(tmp / "late.ome.zarr"))

    write_sheet(tmp, [*SHEET[:2], "multi\tmulti.ome.zarr\t0\t", SHEET[3], "late\tlate.ome.zarr\t\t"])
    edited = snakemake(config)
    succeeded(edited)
    assert images_of(jobs_run(edited.stdout)) == {"multi"}
    channel0 = zarr.open_array(str(tmp / "multi.ome.zarr" / "0"), mode="r")[0]
    assert_same_labels(expected(channel0, tmp, "multi"), labels_of(tmp / "multi.ome.zarr"))

    before = labels_of(tmp / "vol.ome.zarr")
    write_sheet(tmp, [SHEET[0], "multi\tmulti.ome.zarr\t0\t", SHEET[3], "late\tlate.ome.zarr\t\t"])
    removed = snakemake(config)
    succeeded(removed)
    assert not images_of(jobs_run(removed.stdout)) and "experiment" in jobs_run(removed.stdout)
    assert [row["image"] for row in table(tmp / "work" / LABEL / "images.tsv")] == ["flat", "multi", "second",
                                                                                    "late"]
    assert "vol" not in set(pq.read_table(tmp / "work" / LABEL / "objects.parquet")["image"].to_pylist())
    np.testing.assert_array_equal(labels_of(tmp / "vol.ome.zarr"), before)
