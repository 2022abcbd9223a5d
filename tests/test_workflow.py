"""End-to-end tests of the Snakemake workflow: the real ``snakemake`` CLI on OME-Zarr stores on disk.

Every run uses a config file written to ``tmp_path`` (which replaces the shipped demo config),
absolute paths for stores and workdir, and ``--cores 2`` from the repository root.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from ome_zarr_models import open_ome_zarr
from ome_zarr_models.v04.image import Image as Image04
from ome_zarr_models.v04.image_label import ImageLabel as ImageLabel04
from ome_zarr_models.v04.labels import Labels as Labels04
from ome_zarr_models.v05.image import Image as Image05
from ome_zarr_models.v05.image_label import ImageLabel as ImageLabel05
from ome_zarr_models.v05.labels import Labels as Labels05
from runs import (
    JOB_LINE,
    UNIT,
    custom_config,
    listed_labels,
    make_image,
    metadata_only_image,
    ngff,
    snakemake,
    succeeded,
    tree_digest,
    write_config,
)
from scipy import ndimage

from patchworks.io.images import write_image
from patchworks.merge.downsample import downsample

MODELS = {
    "0.4": {"image": Image04, "label": ImageLabel04, "labels": Labels04},
    "0.5": {"image": Image05, "label": ImageLabel05, "labels": Labels05},
}


def job_counts(output: str) -> dict[str, int]:
    """The "Job stats" table of a (dry) run, without its total."""
    table = output.split("Job stats:", 1)[1]
    counts = {}
    for line in table.splitlines()[3:]:
        m = re.fullmatch(r"\s*(\w+)\s+(\d+)\s*", line)
        if not m or m[1] == "total":
            break
        counts[m[1]] = int(m[2])
    return counts


def expected_jobs(spatial: tuple[int, ...], tile: tuple[int, ...], otsu: bool) -> dict[str, int]:
    """Jobs the tile grid implies, counted independently of the workflow's own grid code."""
    counts = [math.ceil(s / t) for s, t in zip(spatial, tile)]
    n = math.prod(counts)
    faces = sum((c - 1) * n // c for c in counts)  # (tile, axis) pairs with a + neighbour
    jobs = {"prepare": 1, "stage": n, "faces": faces, "cc": 1, "measure": 1, "label_image": 1, "relabel": n,
            "pyramid": 1, "publish": 1, "figures": 1, "all": 1}
    if otsu:
        jobs["threshold"] = 1
    return {k: v for k, v in jobs.items() if v}


def assert_same_partition(got: np.ndarray, ref: np.ndarray) -> None:
    """Equal up to renumbering: same background, and a bijection between the ids."""
    assert got.shape == ref.shape
    np.testing.assert_array_equal(got == 0, ref == 0)
    pairs = np.unique(np.stack([got.ravel(), ref.ravel()]), axis=1)
    assert len(np.unique(pairs[0])) == pairs.shape[1], "one output id covers several reference objects"
    assert len(np.unique(pairs[1])) == pairs.shape[1], "one reference object is split into several ids"


def reference(spatial_image: np.ndarray, value: float, connectivity: int) -> tuple[np.ndarray, int]:
    structure = ndimage.generate_binary_structure(spatial_image.ndim, connectivity)
    return ndimage.label(spatial_image > value, structure=structure)


def assert_discriminating(image: np.ndarray, value: float, connectivity: int, tile: tuple[int, ...]) -> None:
    """The test image is sensitive: connectivities differ, and objects are cut by tile borders."""
    _, n = reference(image, value, connectivity)
    assert n > 5
    assert reference(image, value, 1 if connectivity > 1 else image.ndim)[1] != n
    corners = itertools.product(*(range(0, s, t) for s, t in zip(image.shape, tile)))
    per_tile = sum(reference(image[tuple(slice(c, c + t) for c, t in zip(corner, tile))], value,
                             connectivity)[1] for corner in corners)
    assert per_tile > n


def spatial_index(axes: str) -> tuple[int, ...]:
    return tuple(i for i, a in enumerate(axes) if a in "zyx")


def read_levels(label_path: Path, levels: int, axes: str) -> list[np.ndarray]:
    """Every level of a label image, checked to have the image's spatial axes only."""
    out = []
    for k in range(levels):
        arr = zarr.open_array(str(label_path / str(k)), mode="r")
        assert arr.ndim == len(spatial_index(axes))
        out.append(np.asarray(arr[...]))
    return out



@dataclass
class Expect:
    """What a finished run must have written."""

    root: Path  # store holding labels/<name>
    name: str
    workdir: Path
    axes: str
    version: str
    scale: tuple[float, ...]
    levels: int
    factors: tuple[int, ...]  # per spatial axis
    pyramid_method: str = "mode"
    into_input: bool = True
    image: Path | None = None  # the image's store (None: root)

    @property
    def path(self) -> Path:
        return self.root / "labels" / self.name


def check_result(exp: Expect, ref: np.ndarray, n_ref: int) -> list[np.ndarray]:
    """Level 0 equals the reference up to renumbering; ids 1..N; pyramid; NGFF metadata."""
    levels = read_levels(exp.path, exp.levels, exp.axes)
    level0 = levels[0]
    assert_same_partition(level0, ref)
    ids = np.unique(level0)
    np.testing.assert_array_equal(ids[ids > 0], np.arange(1, n_ref + 1))
    published = json.loads((exp.workdir / exp.name / "published.json").read_text())
    assert published["objects"] == n_ref

    current = level0
    for k in range(1, exp.levels):
        current = downsample(current, exp.factors, exp.pyramid_method)
        assert levels[k].shape == tuple(math.ceil(s / f**k) for s, f in zip(level0.shape, exp.factors))
        np.testing.assert_array_equal(levels[k], current, err_msg=f"level {k}")

    check_ngff(exp)
    return levels


def check_ngff(exp: Expect) -> None:
    """Label group and its labels group valid for the input's NGFF version; scales and units."""
    zarr_format = 3 if exp.version == "0.5" else 2
    models = MODELS[exp.version]
    group = zarr.open_group(str(exp.path), mode="r")
    assert group.metadata.zarr_format == zarr_format
    models["label"].from_zarr(group)
    for k in range(exp.levels):
        assert zarr.open_array(str(exp.path / str(k)), mode="r").metadata.zarr_format == zarr_format
    if exp.version == "0.5":  # zarr v3: one shard per tile and level, so files grow with tiles, not chunks
        prepared = json.loads((exp.workdir / exp.name / "prepare.json").read_text())
        for k in range(exp.levels):
            array = zarr.open_array(str(exp.path / str(k)), mode="r")
            spatial = list(zip(array.shards, array.shape))  # the label image has the spatial axes only
            for (shard, size), tile, count, f in zip(spatial, prepared["tile_shape"], prepared["counts"],
                                                     exp.factors):
                assert shard == (tile // f**k if count > 1 else shard), (k, array.shards)
                assert shard >= (1 if count > 1 else size)
            files = [p for p in (exp.path / str(k) / "c").rglob("*") if p.is_file()]
            assert len(files) <= prepared["tiles"]

    meta = ngff(group.attrs.asdict(), exp.version)
    (ms,) = meta["multiscales"]
    if exp.version == "0.4":
        assert ms["version"] == "0.4"
    assert meta["image-label"]["version"] == exp.version
    n_objects = json.loads((exp.workdir / exp.name / "published.json").read_text())["objects"]
    colors = meta["image-label"]["colors"]  # one colour per label, 0 transparent
    assert [c["label-value"] for c in colors] == list(range(n_objects + 1))
    assert colors[0]["rgba"] == [0, 0, 0, 0] and all(c["rgba"][3] == 255 for c in colors[1:])
    spatial_axes = [a for a in exp.axes if a in "zyx"]
    assert [a["name"] for a in ms["axes"]] == spatial_axes  # no channel axis
    assert all(axis["type"] == "space" and axis.get("unit") == UNIT for axis in ms["axes"])
    assert [d["path"] for d in ms["datasets"]] == [str(k) for k in range(exp.levels)]
    image = zarr.open_group(str(exp.image or exp.root), mode="r")
    image_ms = ngff(image.attrs.asdict(), exp.version)["multiscales"][0]
    spatial = [i for i, a in enumerate(exp.axes) if a in "zyx"]
    scale0 = [exp.scale[i] for i in spatial]
    for k, dataset in enumerate(ms["datasets"]):
        got = {t["type"]: t[t["type"]] for t in dataset["coordinateTransformations"]}
        got.setdefault("translation", [0.0] * len(spatial))
        shape = zarr.open_array(str(exp.path / str(k)), mode="r").shape
        image_level = image_ms["datasets"][k] if k < len(image_ms["datasets"]) else None
        if image_level and tuple(image[image_level["path"]].shape[i] for i in spatial) == shape:
            # the image's level of this shape: the labels take its transforms (spatial axes)
            theirs = {t["type"]: t[t["type"]] for t in image_level["coordinateTransformations"]}
            want_scale = [theirs["scale"][i] for i in spatial]
            want_shift = [theirs.get("translation", [0.0] * len(exp.axes))[i] for i in spatial]
        else:  # a level the image lacks: block downsampling, voxel centres shift by (f - 1) / 2
            f = [f ** k for f in exp.factors]
            want_scale = [s * g for s, g in zip(scale0, f)]
            want_shift = [(g - 1) * s / 2 for s, g in zip(scale0, f)]
        np.testing.assert_allclose(got["scale"], want_scale, err_msg=f"level {k}")
        np.testing.assert_allclose(got["translation"], want_shift, err_msg=f"level {k}")
    if exp.into_input:
        assert meta["image-label"]["source"]["image"] == "../../"

    labels_group = zarr.open_group(str(exp.root / "labels"), mode="r")
    assert labels_group.metadata.zarr_format == zarr_format
    models["labels"].from_zarr(labels_group)
    assert exp.name in ngff(labels_group.attrs.asdict(), exp.version)["labels"]
    if exp.into_input:  # the image, now with its labels, is still a valid NGFF image
        root = zarr.open_group(str(exp.root), mode="r")
        models["image"].from_zarr(root)
        assert isinstance(open_ome_zarr(root), models["image"])



# segmentation runs ----------------------------------------------------------------------------
@dataclass
class Case:
    axes: str
    spatial: tuple[int, ...]
    channels: int
    channel: int
    version: str
    scale: tuple[float, ...]
    tile: tuple[int, ...]
    overlap: int | list[int]
    value: str | float  # "otsu" or the quantile of the fixed threshold
    connectivity: int
    levels: int
    downscale: int = 2
    downscale_z: bool = False
    pyramid_method: str = "mode"
    dtype: str = "uint16"


CASES = {
    # 2-D, NGFF 0.5 / zarr v3, 2 channels (segment channel 1), 2 x 2 tiles that do not divide the image
    "2d-v05-fixed-conn1": Case("cyx", (45, 52), 2, 1, "0.5", (1.0, 0.5, 0.25), (24, 28), 3, 0.8, 1, 2),
    "2d-v05-otsu-connndim": Case("cyx", (45, 52), 2, 1, "0.5", (1.0, 0.5, 0.25), (32, 40), [2, 4],
                                 "otsu", 2, 3, pyramid_method="nearest"),
    # 3-D, NGFF 0.4 / zarr v2, 2 x 2 x 2 tiles, corner contacts merged across tiles
    "3d-v04-otsu-connndim": Case("zyx", (11, 20, 18), 1, 0, "0.4", (2.0, 0.5, 0.5), (6, 12, 10), [1, 2, 2],
                                 "otsu", 3, 2, dtype="uint8"),
    # 3-D with channels, NGFF 0.4, z split into tiles and (non-default) downscaled too
    "3d-v04-fixed-conn1-zdown": Case("czyx", (10, 17, 21), 2, 0, "0.4", (1.0, 3.0, 0.4, 0.4), (6, 17, 12),
                                     [2, 0, 3], 0.8, 1, 2, downscale_z=True, dtype="uint8"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_tiled_run_matches_whole_image_labels(tmp_path: Path, case: Case) -> None:
    """Dry-run jobs, labels, ids, pyramid and NGFF metadata of a tiled run; a rerun does nothing."""
    store = tmp_path / "image.ome.zarr"
    data = make_image(store, case.axes, case.spatial, case.channels, seed=7, version=case.version,
                      scale=case.scale, levels=case.levels, dtype=case.dtype)
    image = data[case.channel] if "c" in case.axes else data
    otsu = case.value == "otsu"
    value = "otsu" if otsu else float(np.quantile(image, case.value))
    workdir = tmp_path / "work"
    config = write_config(tmp_path, {
        "input": {"store": str(store), "channel": case.channel},
        "output": {"label_name": "cells"},
        "workdir": str(workdir),
        "tiling": {"tile_shape": list(case.tile), "overlap": case.overlap},
        "method": {"name": "threshold", "threshold": {"value": value}},
        "connectivity": case.connectivity,
        "pyramid": {"levels": case.levels, "downscale": case.downscale, "method": case.pyramid_method,
                    "downscale_z": case.downscale_z},
    })

    dry = snakemake(config, "-n")
    succeeded(dry)
    assert job_counts(dry.stdout) == expected_jobs(case.spatial, case.tile, otsu)
    assert not workdir.exists() and not (store / "labels").exists(), "a dry run wrote files"

    # up to (not including) publish: level 0 is written but the label image is not listed yet
    succeeded(snakemake(config, "--omit-from", "publish"))
    label_path = store / "labels" / "cells"
    assert (label_path / "0").exists()
    assert "cells" not in listed_labels(store, case.version)
    attrs = zarr.open_group(str(label_path), mode="r").attrs.asdict()
    assert "multiscales" not in attrs and "multiscales" not in attrs.get("ome", {})

    succeeded(snakemake(config))
    if otsu:
        value = json.loads((workdir / "cells" / "threshold.json").read_text())["value"]
        assert image.min() < value < image.max()
    ref, n = reference(image, value, case.connectivity)
    assert_discriminating(image, value, case.connectivity, case.tile)
    factors = tuple(case.downscale if (a != "z" or case.downscale_z) else 1 for a in case.axes if a in "zyx")
    exp = Expect(store, "cells", workdir, case.axes, case.version, case.scale, case.levels, factors,
                 case.pyramid_method)
    before = check_result(exp, ref, n)

    published = workdir / "cells" / "published.json"
    stamp = published.stat().st_mtime_ns
    again = snakemake(config)
    succeeded(again)
    assert "Nothing to be done" in again.stdout
    assert not JOB_LINE.search(again.stdout), "the second identical run ran jobs"
    assert published.stat().st_mtime_ns == stamp
    for k, (a, b) in enumerate(zip(before, read_levels(exp.path, case.levels, case.axes))):
        np.testing.assert_array_equal(a, b, err_msg=f"level {k} changed on the second run")


@pytest.fixture(scope="module")
def image_3d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-D NGFF 0.5 image (9 x 20 x 22); dry runs only, so it is never written to."""
    store = tmp_path_factory.mktemp("dry") / "image.ome.zarr"
    make_image(store, "zyx", (9, 20, 22), seed=1)
    return store


DRY_RUNS = {
    # id: (tile_shape, threshold value, tiling extras, threshold job expected)
    "27-tiles-fixed": ([4, 8, 8], 100, {}, False),
    "2-tiles-otsu": ([9, 20, 11], "otsu", {}, True),
    "18-tiles-skip-empty-otsu": (8, 100, {"skip_empty": True, "empty_threshold": "otsu"}, True),
    "1-tile-skip-empty-fixed": ([9, 20, 22], 100, {"skip_empty": True, "empty_threshold": 3}, False),
}


@pytest.mark.parametrize(("tile", "value", "extra", "threshold_job"), DRY_RUNS.values(), ids=DRY_RUNS.keys())
def test_dry_run_lists_jobs_of_the_grid(tmp_path: Path, image_3d: Path, tile: int | list[int],
                                        value: str | int, extra: dict[str, Any], threshold_job: bool) -> None:
    """``snakemake -n`` plans one job per tile and per tile face, and Otsu's job only when needed."""
    config = write_config(tmp_path, {
        "input": {"store": str(image_3d)},
        "workdir": str(tmp_path / "work"),
        "tiling": {"tile_shape": tile, "overlap": 1, **extra},
        "method": {"name": "threshold", "threshold": {"value": value}},
        "pyramid": {"levels": 1},
    })
    dry = snakemake(config, "-n")
    succeeded(dry)
    tiles = tuple(tile) if isinstance(tile, list) else (tile,) * 3
    assert job_counts(dry.stdout) == expected_jobs((9, 20, 22), tiles, threshold_job)
    assert not (tmp_path / "work").exists()


# existing label images --------------------------------------------------------------------------
def test_foreign_label_image_kept_unless_overwrite(tmp_path: Path) -> None:
    """A label image written by someone else stays untouched; output.overwrite: true replaces it."""
    store = tmp_path / "image.ome.zarr"
    data = make_image(store, "cyx", (30, 34), 2, seed=11, scale=(1.0, 0.3, 0.3))
    value = float(np.quantile(data[1], 0.8))
    # someone else's labels group: a valid label image "theirs" and a bare, hand-made "cells"
    write_image(store / "labels" / "theirs", np.zeros((1, 30, 34), np.uint16), "cyx", scale=(1.0, 0.3, 0.3),
                unit=UNIT)
    theirs = zarr.open_group(str(store / "labels" / "theirs"), mode="a")
    theirs.attrs.put({"ome": {**theirs.attrs["ome"], "image-label": {}}})
    labels = zarr.open_group(str(store / "labels"), mode="a", zarr_format=3)
    labels.attrs.put({"ome": {"version": "0.5", "labels": ["theirs", "cells"]}})
    hand_made = labels.create_group("cells")
    hand_made.attrs.put({"note": "drawn by hand"})
    foreign = np.full((1, 30, 34), 7, dtype=np.uint16)
    hand_made.create_array("0", shape=foreign.shape, dtype=foreign.dtype)[...] = foreign
    before = tree_digest(store)

    workdir = tmp_path / "work"
    config = {
        "input": {"store": str(store), "channel": 1},
        "output": {"label_name": "cells"},
        "workdir": str(workdir),
        "tiling": {"tile_shape": [16, 34], "overlap": 1},
        "method": {"name": "threshold", "threshold": {"value": value}},
        "pyramid": {"levels": 1},
    }
    proc = snakemake(write_config(tmp_path, config))
    assert proc.returncode != 0
    assert "output.overwrite" in proc.stdout and "cells" in proc.stdout
    assert not JOB_LINE.search(proc.stdout)
    assert not workdir.exists()
    assert tree_digest(store) == before
    np.testing.assert_array_equal(zarr.open_array(str(store / "labels/cells/0"), mode="r")[...], foreign)

    config["output"]["overwrite"] = True
    succeeded(snakemake(write_config(tmp_path, config, "overwrite.yaml")))
    ref, n = reference(data[1], value, 1)
    check_result(Expect(store, "cells", workdir, "cyx", "0.5", (1.0, 0.3, 0.3), 1, (2, 2)), ref, n)
    attrs = zarr.open_group(str(store / "labels/cells"), mode="r").attrs.asdict()
    assert "note" not in attrs
    assert sorted(listed_labels(store, "0.5")) == ["cells", "theirs"]


# custom methods -------------------------------------------------------------------------------

def test_custom_method_matches_reference(tmp_path: Path, custom_module: Path) -> None:
    """A user function (threshold + scipy label) from PYTHONPATH gives the whole-image result."""
    store = tmp_path / "image.ome.zarr"
    data = make_image(store, "yx", (33, 38), seed=5, scale=(0.7, 0.7), levels=2)
    value = float(np.quantile(data, 0.7))
    workdir = tmp_path / "work"
    kwargs = {"value": value, "connectivity": 2}
    config = write_config(tmp_path, custom_config(store, workdir, kwargs, [18, 20]))
    succeeded(snakemake(config, pythonpath=custom_module))
    ref, n = reference(data, value, 2)
    check_result(Expect(store, "custom", workdir, "yx", "0.5", (0.7, 0.7), 2, (2, 2)), ref, n)


# the Snakemake process ---------------------------------------------------------------------------
PROBE = """
import atexit, gc, json, os, resource, sys


def _record():  # in the Snakemake process only (python -m snakemake), at its exit
    if sys.argv and sys.argv[0].endswith(os.path.join("snakemake", "__main__.py")):
        with open(os.environ["PROBE_FILE"], "w") as fh:
            json.dump({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                       "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, fh)


atexit.register(_record)
"""


def probed_snakemake(config: Path, probe: Path, *args: str) -> dict[str, Any]:
    """Run the workflow; what :data:`PROBE` recorded at the Snakemake process's exit."""
    probe.mkdir(exist_ok=True)
    (probe / "sitecustomize.py").write_text(PROBE)
    record = probe / "record.json"
    record.unlink(missing_ok=True)
    os.environ["PROBE_FILE"] = str(record)
    try:
        succeeded(snakemake(config, *args, pythonpath=probe))
    finally:
        del os.environ["PROBE_FILE"]
    return json.loads(record.read_text())


def test_collector_paused_while_dag_builds_and_resumed_before_jobs(tmp_path: Path) -> None:
    """The Snakefile pauses Python's cyclic garbage collector while Snakemake builds the DAG (a dry run
    ends with it paused); a real run resumes it before its jobs, with the DAG's objects frozen."""
    store = tmp_path / "image.ome.zarr"
    data = make_image(store, "yx", (30, 34), seed=3)
    config = write_config(tmp_path, {
        "input": {"store": str(store)},
        "workdir": str(tmp_path / "work"),
        "tiling": {"tile_shape": [15, 17], "overlap": 1},
        "method": {"name": "threshold", "threshold": {"value": float(np.quantile(data, 0.8))}},
        "pyramid": {"levels": 1},
    })
    dry = probed_snakemake(config, tmp_path / "probe", "-n")
    assert not dry["enabled"] and dry["frozen"] == 0, dry
    real = probed_snakemake(config, tmp_path / "probe")
    assert real["enabled"] and real["frozen"] > 1000, real


def test_planning_one_job_costs_the_same_at_any_tile_count(tmp_path: Path) -> None:
    """Each SLURM job runs a Snakemake process that parses the workflow and plans its own job; the
    parse lists no file per tile (the cc and publish rules list theirs in input functions), so that
    process's memory does not grow with the tiles: 100 and 100,000 tiles of a metadata-only image."""
    peaks = {}
    for n in (100, 100_000):
        store = tmp_path / f"{n}.ome.zarr"
        metadata_only_image(store, (10 * 8, n // 10 * 16, 16), (8, 16, 16))
        workdir = tmp_path / f"work{n}"
        config = write_config(tmp_path, {
            "input": {"store": str(store)},
            "workdir": str(workdir),
            "tiling": {"tile_shape": [8, 16, 16], "overlap": 1},
            "method": {"name": "threshold", "threshold": {"value": 100}},
        }, f"{n}.yaml")
        target = workdir / "labels" / "stage" / "5.json"
        peaks[n] = probed_snakemake(config, tmp_path / "probe", "-n", str(target))["peak_rss_kb"] / 1024
    assert peaks[100_000] < peaks[100] + 20, peaks  # MB; listing 100,000 tiles' files at parse took 200 MB


# separate output store ---------------------------------------------------------------------------
def test_output_store_leaves_input_untouched(tmp_path: Path) -> None:
    """With output.store the labels go to <store>/labels/<name> there; the input store is unchanged."""
    store = tmp_path / "image.ome.zarr"
    data = make_image(store, "zyx", (6, 19, 23), seed=9, version="0.4", scale=(1.5, 0.5, 0.5), levels=2,
                      dtype="uint8")
    value = float(np.quantile(data, 0.8))
    before = tree_digest(store)
    out = tmp_path / "out.zarr"
    workdir = tmp_path / "work"
    config = write_config(tmp_path, {
        "input": {"store": str(store)},
        "output": {"store": str(out), "label_name": "nuclei"},
        "workdir": str(workdir),
        "tiling": {"tile_shape": [6, 10, 12], "overlap": 1},
        "method": {"name": "threshold", "threshold": {"value": value}},
        "connectivity": 2,
        "pyramid": {"levels": 2},
    })
    succeeded(snakemake(config))
    assert tree_digest(store) == before
    ref, n = reference(data, value, 2)
    check_result(Expect(out, "nuclei", workdir, "zyx", "0.4", (1.5, 0.5, 0.5), 2, (1, 2, 2),
                        into_input=False, image=store), ref, n)
    assert listed_labels(out, "0.4") == ["nuclei"]


# NGFF: label image levels --------------------------------------------------------------------------
def test_labels_keep_input_image_valid_ngff(tmp_path: Path) -> None:
    """With pyramid.levels left at its default, the input image stays valid NGFF (or the run refuses).

    NGFF 0.4/0.5 labels: the label image's "datasets" MUST have the same number of entries as the
    original image's.
    """
    store = tmp_path / "image.ome.zarr"
    make_image(store, "yx", (32, 36), seed=4, levels=1)
    open_ome_zarr(zarr.open_group(str(store), mode="r"))  # valid before the run
    config = write_config(tmp_path, {
        "input": {"store": str(store)},
        "workdir": str(tmp_path / "work"),
        "tiling": {"tile_shape": [16, 32]},
        "method": {"name": "threshold", "threshold": {"value": 500}},
    })
    proc = snakemake(config)
    if proc.returncode != 0:
        assert "pyramid.levels" in proc.stdout, proc.stdout[-3000:]
        assert not (store / "labels").exists()
        return
    Image05.from_zarr(zarr.open_group(str(store), mode="r"))
