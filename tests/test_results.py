"""What a finished workflow run hands the user: the object table named in published.json, the report
(``snakemake --report report.zip``) with its pictures and seam check, and ``patchworks info``.

One shared run (``workflow_run`` in conftest): a 2-channel c/y/x image, 3 x 3 tiles, a size filter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
import zarr
from matplotlib.image import imread
from runs import FinishedRun
from skimage.segmentation import relabel_sequential
from test_exactness import assert_same_labels, reference
from test_objects import assert_table_matches

PICTURES = ("overview.png", "tiles.png", "volumes.png", "seams.png")


@pytest.fixture(scope="module")
def labels(workflow_run: FinishedRun) -> np.ndarray:
    return zarr.open_array(str(workflow_run.labels / "0"), mode="r")[...]


def test_published_table_matches_the_label_image(workflow_run: FinishedRun, labels: np.ndarray) -> None:
    """published.json names the Parquet table beside the labels; its rows equal regionprops of the
    label image, which equals whole-image labelling less the objects under filter.min_volume."""
    published = json.loads((workflow_run.workdir / "cells" / "published.json").read_text())
    assert Path(published["table"]) == workflow_run.labels / "objects.parquet"
    table = pq.read_table(published["table"])
    assert published["objects"] == table.num_rows == labels.max()
    ref, n = reference(workflow_run.image, workflow_run.value, 2)
    areas = np.bincount(ref.ravel()) * np.prod(workflow_run.scale)
    small = np.flatnonzero(areas < workflow_run.filter["min_volume"])
    assert 0 < len(small) - 1 < n  # the filter removed some objects (index 0 is the background)
    assert_same_labels(relabel_sequential(np.where(np.isin(ref, small), 0, ref))[0], labels)
    assert_table_matches(table.to_pandas(), labels, workflow_run.image, workflow_run.scale,
                         list(workflow_run.tile))
    meta = json.loads(table.schema.metadata[b"patchworks"])
    assert meta["unit"] == "micrometer" and meta["volume_unit"] == "micrometer^2"


def test_report_holds_pictures_seam_check_and_config(workflow_run: FinishedRun) -> None:
    """report.zip holds the overview, the per-tile heatmap, the volume histogram, the seam check (picture
    and table) and the run's config, each with its caption in the report's page."""
    with zipfile.ZipFile(workflow_run.root / "report.zip") as report:
        files = {Path(name).name: name for name in report.namelist()}
        for name in PICTURES:
            picture = imread(BytesIO(report.read(files[name])), format="png")
            assert picture.shape[0] > 300 and picture.shape[1] > 300 and picture.std() > 0.05, name
        config = yaml.safe_load(report.read(files["config.yaml"]))
        seams = report.read(files["seams.tsv"]).decode()
        page = report.read(files["report.html"]).decode()
    assert config["filter"] == {"min_volume": 0.5, "max_volume": None}
    assert config["tiling"]["tile_shape"] == [32, 40] and "overwrite" not in config["output"]
    assert seams.splitlines()[0].startswith("axis\tposition\tends\tcrossing\trate\tcontrol_position")
    for caption in ("outline of every", "tile grid in yellow", "method took", "size filter's bounds",
                    "Seam check, without ground truth", "output.overwrite is left out"):
        assert caption in page, caption


def test_seam_check_counts_from_the_label_image(workflow_run: FinishedRun, labels: np.ndarray) -> None:
    """Each seam's row: objects ending exactly at the seam (all their voxels on one side, some next to
    it) and objects crossing it, here and at the control plane, recounted from the label image."""
    rows = (workflow_run.workdir / "cells" / "report" / "seams.tsv").read_text().splitlines()
    keys, *values = [r.split("\t") for r in rows]
    seams = [dict(zip(keys, v)) for v in values]
    assert [(s["axis"], int(s["position"])) for s in seams] == [("y", 32), ("y", 64), ("x", 40), ("x", 80)]

    def recount(axis: int, q: int) -> tuple[int, int]:
        before, after = (set(np.unique(np.take(labels, range(a, b), axis=axis))) - {0}
                         for a, b in ((0, q), (q, labels.shape[axis])))
        touching = set(np.unique(np.take(labels, [q - 1, q], axis=axis))) - {0}
        crossing = before & after
        return len(touching - crossing), len(crossing)

    crossed = 0
    for s in seams:
        axis = "yx".index(s["axis"])
        for pos, ends, cross, rate in ((s["position"], s["ends"], s["crossing"], s["rate"]),
                                       (s["control_position"], s["control_ends"], s["control_crossing"],
                                        s["control_rate"])):
            assert recount(axis, int(pos)) == (int(ends), int(cross))
            assert float(rate) == pytest.approx(int(ends) / (int(ends) + int(cross)), abs=1e-4)
        crossed += int(s["crossing"])
    assert crossed > 5  # objects do cross the seams (merged across tiles)


def test_info_lists_levels_codecs_and_object_counts(workflow_run: FinishedRun, labels: np.ndarray) -> None:
    """``patchworks info STORE``: each level's shape, chunks and codecs, and the label image's objects."""
    run = subprocess.run([Path(sys.executable).with_name("patchworks"), "info", str(workflow_run.store)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert "NGFF 0.5 image (zarr v3), 2 level(s), axes c, y (micrometer), x (micrometer)" in lines[0]
    assert lines[1].startswith("  level 0: shape (2, 96, 112) uint16, chunks (1, 7, 7), codecs bytes")
    assert "zstd" in lines[1] and lines[2].startswith("  level 1: shape (2, 48, 56)")
    assert lines[3].startswith(f"label image cells: {labels.max()} objects, 2 level(s), axes y, x, table ")
    assert lines[4].startswith("  level 0: shape (96, 112) uint32, chunks (32, 40)")
    assert lines[5].startswith("  level 1: shape (48, 56) uint32, chunks (16, 20)")


def test_seam_check_flags_objects_cut_at_seams() -> None:
    """Labelled tile by tile without merging, objects end at every seam they cross (share 1 there),
    while the merged labels end at seams as often as at the control planes."""
    from scipy import ndimage

    from patchworks.report.seams import seam_check
    from patchworks.tiling.grid import TileGrid

    image = ndimage.gaussian_filter(np.random.default_rng(8).random((120, 120)), 3) > 0.5
    grid = TileGrid((120, 120), (30, 30), (0, 0))
    merged = ndimage.label(image)[0]
    cut = np.zeros_like(merged)
    for t in range(grid.n_tiles):
        core = grid.core(t)
        tile_labels = ndimage.label(image[core])[0]
        cut[core] = np.where(tile_labels > 0, tile_labels + cut.max(), 0)

    def check(labels: np.ndarray) -> dict:
        boxes = ndimage.find_objects(labels)
        start = np.array([[s.start for s in b] for b in boxes])
        stop = np.array([[s.stop for s in b] for b in boxes])
        return seam_check(start, stop, grid, ("y", "x"))

    broken, whole = check(cut), check(merged)
    assert len(broken["seams"]) == 6
    assert all(s["rate"] == 1.0 for s in broken["seams"] if s["rate"] is not None)
    assert broken["seam_rate"] == 1.0 and broken["control_rate"] < 0.5 and broken["inside_rate"] < 0.5
    assert whole["seam_rate"] < 0.5 and abs(whole["seam_rate"] - whole["inside_rate"]) < 0.2


def test_figures_of_a_3d_image_without_pyramid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The figures step on a 3-D image of one level larger than the overview's size: the middle z plane,
    every n-th voxel; per-tile heatmaps summed over the z tiles; the seam check over all three axes."""
    from patchworks.io.images import write_image
    from patchworks.pipeline import local, steps

    data = (np.random.default_rng(4).random((6, 40, 44)) * 1000).astype(np.uint16)
    write_image(tmp_path / "in.zarr", data, "zyx", scale=(2.0, 0.5, 0.5), unit="micrometer")
    plan = local.run({"input": {"store": str(tmp_path / "in.zarr")}, "workdir": str(tmp_path / "work"),
                      "tiling": {"tile_shape": [3, 20, 22]}, "method": {"threshold": {"value": 700}},
                      "connectivity": 3})
    monkeypatch.setattr("patchworks.report.figures.OVERVIEW_PIXELS", 16)  # 40 x 44 does not fit: stride 3
    steps.figures(plan.config)
    out = plan.paths.report_files
    for key in ("overview", "tiles", "volumes", "seams"):
        assert imread(out[key]).std() > 0.05, key
    rows = Path(out["seam_table"]).read_text().splitlines()[1:]
    assert [r.split("\t")[:2] for r in rows] == [["z", "3"], ["y", "20"], ["x", "22"]]
