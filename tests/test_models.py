"""Cellpose and StarDist with real weights through the real workflow: tiled as good as whole.

The methods run in their own environment, as on a cluster (``envs/``): ``.cache/venv-models``, a
virtual environment with ``pip install -e ".[models-cpu]"`` (Cellpose 3 pins numpy < 2.1, which the
SLURM plugin of the main environment does not allow), built on first use and rebuilt when
``pyproject.toml`` changes; the workflow runs with that environment's Snakemake.

Weights: Cellpose 3 weights converted from the scellseg 0.1.8 sdist (downloaded from the package
registry once, into ``.cache/models``, by ``models/cellpose/convert_scellseg.py``), and the small
StarDist model trained and shipped in ``models/stardist/nuclei2d``. Images with ground truth: the
DSB 2018 nuclei image shipped with stardist (512 x 512, cut into 3 x 3 tiles) and a 1024 x 1024
mosaic of real nuclei held out of the StarDist training (``tests/data/nuclei_mosaic.npz``, 4 x 4
tiles). For each method and image the workflow runs tiled with ``stitch: iou`` (the default of
the model methods), then again from the merge on with ``stitch: touch``; the whole image is
segmented by the same method in one piece, with the same normalisation. The object F1 at IoU 0.5
of the tiled run must be at least the whole image's minus 0.01.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr
from runs import REPO, RUN_DIR

from patchworks.evaluation import object_f1, seam_errors
from patchworks.io.images import write_image
from patchworks.tiling.grid import TileGrid

STARDIST_MODEL = REPO / "models" / "stardist" / "nuclei2d"
TOLERANCE = 0.01


@dataclass(frozen=True)
class Image:
    name: str
    image: np.ndarray
    truth: np.ndarray
    tile: int
    diameter: float  # median equivalent diameter of the true nuclei, pixels


def dsb() -> Image:
    from stardist.data import test_image_nuclei_2d

    image, truth = test_image_nuclei_2d(return_mask=True)
    return Image("DSB 2018 (512²)", image, truth, 192, 24)


def mosaic() -> Image:
    data = np.load(REPO / "tests" / "data" / "nuclei_mosaic.npz")
    return Image("mnfinder mosaic (1024²)", data["image"], data["mask"], 256, 28)


METHODS = {
    "cellpose": lambda weights: {"name": "cellpose", "cellpose": {"model": str(weights)}},
    "stardist": lambda _: {"name": "stardist", "stardist": {"model": str(STARDIST_MODEL)}},
}
IMAGES = {"dsb": dsb, "mosaic": mosaic}


def run_workflow(python: Path, tmp: Path, name: str, config: dict, *args: str) -> np.ndarray:
    """Run the workflow with the models' environment; the labels (level 0)."""
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump(config))
    run = subprocess.run([str(python), "-m", "snakemake", "--cores", "2", "--configfile", str(cfg), *args],
                         cwd=RUN_DIR, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-4000:]
    if args:
        assert "rule stage" not in run.stderr, "switching stitch mode reran the segmentation"
    store = Path(config["input"]["store"]) / "labels" / config["output"]["label_name"] / "0"
    return zarr.open_array(str(store), mode="r")[...]


@pytest.mark.parametrize("image_name", IMAGES)
@pytest.mark.parametrize("method_name", METHODS)
def test_tiled_f1_matches_whole_image(tmp_path: Path, python: Path, request: pytest.FixtureRequest,
                                      method_name: str, image_name: str) -> None:
    weights = request.getfixturevalue("cellpose_weights") if method_name == "cellpose" else None
    case = IMAGES[image_name]()
    write_image(tmp_path / "image.ome.zarr", case.image, "yx")
    config = {
        "input": {"store": str(tmp_path / "image.ome.zarr")},
        "workdir": str(tmp_path / "work"),
        "output": {"label_name": "nuclei"},
        "tiling": {"tile_shape": case.tile, "overlap": "auto", "object_diameter": case.diameter},
        "method": METHODS[method_name](weights),
    }
    iou_labels = run_workflow(python, tmp_path, "tiled", config)
    touch_labels = run_workflow(python, tmp_path, "tiled", config, "--config", "stitch={'mode': 'touch'}")
    whole_config = {**config, "workdir": str(tmp_path / "whole"), "output": {"label_name": "whole"},
                    "tiling": {"tile_shape": list(case.image.shape)}, "stitch": {"mode": "touch"}}  # one tile
    whole = run_workflow(python, tmp_path, "whole", whole_config)

    grid = TileGrid(case.image.shape, (case.tile,) * 2, (0, 0))
    rows = {"whole": whole, "tiled, stitch iou": iou_labels, "tiled, stitch touch": touch_labels}
    scores = {k: object_f1(case.truth, v) for k, v in rows.items()}
    table = []
    for (kind, score), labels in zip(scores.items(), rows.values()):
        splits, merges = seam_errors(case.truth, labels, grid)
        table.append(f"| {method_name} | {case.name} | {kind} | {score.f1:.3f} | "
                     f"{score.matched}/{score.true} | {score.predicted} | {splits} / {merges} |")
    print("\n" + "\n".join(table))
    assert scores["whole"].f1 > 0.6, "the model segments these nuclei at all"
    assert scores["tiled, stitch iou"].f1 >= scores["whole"].f1 - TOLERANCE, table


STACK_CHECK = """
import json, sys
import numpy as np
from stardist.data import test_image_nuclei_2d
from patchworks import cellpose_fn, stardist_fn
from patchworks.evaluation import object_f1

image, truth = test_image_nuclei_2d(return_mask=True)
crop, crop_truth = image[128:256, 128:256], truth[128:256, 128:256]
f1 = lambda labels: object_f1(crop_truth, labels).f1
stack = np.stack([crop] * 6)  # nuclei as columns through z
low, high = np.percentile(image, [1, 99.8]).tolist()
out = {}
per_plane = stardist_fn(sys.argv[2], intensity_range=(low, high))(stack)
out["stardist_per_plane"] = [len(np.unique(p)) - 1 for p in per_plane] + [int(per_plane.max())]
out["stardist_f1"] = f1(per_plane[0])
cp = cellpose_fn(sys.argv[1], intensity_range=(low, high), diameter=24)
planes = cp(stack)
out["cellpose_per_plane"] = [len(np.unique(p)) - 1 for p in planes] + [int(planes.max())]
out["cellpose_f1"] = f1(planes[0])
volume = cellpose_fn(sys.argv[1], intensity_range=(low, high), diameter=24, do_3D=True)(stack)
two = cellpose_fn(sys.argv[1], intensity_range=(low, high), diameter=24, nuclear_channel=0)
out["cellpose_two_channels_f1"] = f1(two(np.stack([crop, crop], axis=-1)))
ids, first = np.unique(volume, return_index=True)
zs = [len(np.unique(np.nonzero(volume == i)[0])) for i in ids[1:]]
out["cellpose_3d"] = {"objects": len(ids) - 1, "median_planes": float(np.median(zs)) if zs else 0}
print(json.dumps(out))
"""


def test_3d_stacks_per_plane_and_in_3d(python: Path, cellpose_weights: Path) -> None:
    """On a 3-D stack (one real crop repeated through z): the 2-D StarDist model and Cellpose in 2-D
    segment every plane alike with ids unique across planes; Cellpose do_3D finds objects that run
    through the planes; Cellpose with a nuclear channel takes a two-channel tile."""
    run = subprocess.run([str(python), "-c", STACK_CHECK, str(cellpose_weights), str(STARDIST_MODEL)],
                         capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    for key in ("stardist_per_plane", "cellpose_per_plane"):
        *counts, top = out[key]
        assert len(set(counts)) == 1 and counts[0] > 0, out  # every plane alike
        assert top == 6 * counts[0], out  # ids unique across planes
    # 2-D per plane and two channels (cytoplasm + nuclear) against the crop's ground truth, with
    # the whole-image test's bar ("segments these nuclei")
    for f1 in (out["stardist_f1"], out["cellpose_f1"], out["cellpose_two_channels_f1"]):
        assert f1 > 0.6, out
    assert out["cellpose_3d"]["objects"] > 5 and out["cellpose_3d"]["median_planes"] >= 4, out


def test_zero_padding_does_not_change_the_normalisation(tmp_path: Path, python: Path) -> None:
    """A crop of real nuclei (67, from the held-out mosaic) inside a fused-volume-like canvas of zero
    padding (99 % of the image): the percentiles that scale every tile are those of the sample's
    non-padding chunks, so StarDist finds the nuclei as well as on the crop alone (measured before
    this was so: F1 0.0, the 99.8th percentile falling from 42,107 to 1,601)."""
    data = np.load(REPO / "tests" / "data" / "nuclei_mosaic.npz")
    crop, truth = data["image"][:512, :512], data["mask"][:512, :512]
    canvas = np.zeros((5120, 5120), crop.dtype)
    canvas[2000:2512, 2100:2612] = crop  # not aligned to the chunks: border chunks are part padding
    write_image(tmp_path / "crop.ome.zarr", crop, "yx", chunks=(256, 256))
    write_image(tmp_path / "padded.ome.zarr", canvas, "yx", chunks=(256, 256))
    config = {"output": {"label_name": "nuclei"}, "method": METHODS["stardist"](None),
              "tiling": {"tile_shape": 1024, "overlap": "auto", "object_diameter": 28, "skip_empty": True}}
    scores = {}
    for name in ("crop", "padded"):
        run = {**config, "workdir": str(tmp_path / f"work-{name}"),
               "input": {"store": str(tmp_path / f"{name}.ome.zarr")}}
        labels = run_workflow(python, tmp_path, name, run)
        scores[name] = object_f1(truth, labels[2000:2512, 2100:2612] if name == "padded" else labels)
    stats = json.loads((tmp_path / "work-padded" / "nuclei" / "normalization.json").read_text())
    print(f"\npadded: {scores['padded']}, crop: {scores['crop']}, statistics: {stats}")
    assert stats["padding_chunks"] > 0.9 * stats["sample_chunks"]
    assert scores["crop"].f1 > 0.8
    assert scores["padded"].f1 >= scores["crop"].f1 - TOLERANCE


def test_a_model_of_the_other_cellpose_generation_is_a_config_error(tmp_path: Path, python: Path) -> None:
    """No silent model swap: with Cellpose 3 installed (the models' environment), Cellpose-SAM's
    ``cpsam`` stops the workflow before any job and ``cellpose_fn`` at once, naming the installed
    version and both fixes. (The other way round, a Cellpose 3 name under Cellpose 4, takes the same
    check: ``CELLPOSE4_MODELS``.)"""
    installed = subprocess.run([str(python), "-c", "from importlib.metadata import version; "
                                "print(version('cellpose'))"], capture_output=True, text=True).stdout.strip()
    assert installed.startswith("3."), installed
    write_image(tmp_path / "image.ome.zarr", np.zeros((64, 64), np.uint16), "yx")
    config = {"input": {"store": str(tmp_path / "image.ome.zarr")}, "workdir": str(tmp_path / "work"),
              "method": {"name": "cellpose", "cellpose": {"model": "cpsam", "gpu": False}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    dry = subprocess.run([str(python), "-m", "snakemake", "-n", "--cores", "1", "--configfile",
                          str(tmp_path / "config.yaml")], cwd=RUN_DIR, capture_output=True, text=True)
    fixes = ("pip install 'cellpose>=4'", "use a Cellpose 3 model such as cyto3")
    message = ("patchworks: config error: method.cellpose.model: 'cpsam' is a Cellpose 4 (Cellpose-SAM) "
               f"model, but Cellpose {installed} is installed here")
    assert dry.returncode != 0 and message in dry.stderr and all(f in dry.stderr for f in fixes), dry.stderr
    api = subprocess.run([str(python), "-c", "from patchworks.plugins.cellpose import cellpose_fn; "
                          "cellpose_fn('cpsam')"], capture_output=True, text=True)
    assert api.returncode != 0, api.stderr
    assert "ConfigError: cellpose_fn(model): 'cpsam' is a Cellpose 4" in api.stderr, api.stderr
