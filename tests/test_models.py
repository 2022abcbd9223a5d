"""Cellpose and StarDist with real weights through the real workflow: tiled as good as whole.

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

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr

from patchworks import atomic
from patchworks.config import validate_config
from patchworks.evaluation import object_f1, seam_errors
from patchworks.images import write_image
from patchworks.methods import Context, build_method
from patchworks.plan import Plan

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "models"
STARDIST_MODEL = REPO / "models" / "stardist" / "nuclei2d"
TOLERANCE = 0.01


@pytest.fixture(scope="session")
def cellpose_weights() -> Path:
    """Cellpose 3 weights converted from scellseg 0.1.8 (its sdist fetched from the registry once)."""
    pytest.importorskip("cellpose")
    dest = CACHE / "scellseg_cellpose3.pth"
    if not dest.exists():
        sdist = CACHE / "scellseg-0.1.8.tar.gz"
        if not sdist.exists():
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "scellseg==0.1.8",
                            "-d", str(CACHE)], check=True)
        subprocess.run([sys.executable, str(REPO / "models/cellpose/convert_scellseg.py"), str(dest),
                        "--source", str(sdist)], check=True)
    return dest


@dataclass(frozen=True)
class Image:
    name: str
    image: np.ndarray
    truth: np.ndarray
    tile: int


def dsb() -> Image:
    from stardist.data import test_image_nuclei_2d

    image, truth = test_image_nuclei_2d(return_mask=True)
    return Image("DSB 2018 (512²)", image, truth, 192)


def mosaic() -> Image:
    data = np.load(REPO / "tests" / "data" / "nuclei_mosaic.npz")
    return Image("mnfinder mosaic (1024²)", data["image"], data["mask"], 256)


METHODS = {
    "cellpose": lambda weights: {"name": "cellpose", "cellpose": {"model": str(weights)}},
    "stardist": lambda _: {"name": "stardist", "stardist": {"model": str(STARDIST_MODEL)}},
}
IMAGES = {"dsb": dsb, "mosaic": mosaic}


def snakemake(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", str(cfg), *args],
                          cwd=REPO, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def tiled_labels(config: dict) -> np.ndarray:
    store = Path(config["input"]["store"]) / "labels" / config["output"]["label_name"] / "0"
    return zarr.open_array(str(store), mode="r")[...]


@pytest.mark.parametrize("image_name", IMAGES)
@pytest.mark.parametrize("method_name", METHODS)
def test_tiled_f1_matches_whole_image(tmp_path: Path, request: pytest.FixtureRequest, method_name: str,
                                      image_name: str) -> None:
    weights = request.getfixturevalue("cellpose_weights") if method_name == "cellpose" else None
    if method_name == "stardist":
        pytest.importorskip("tensorflow")
    case = IMAGES[image_name]()
    write_image(tmp_path / "image.ome.zarr", case.image, "yx")
    config = {
        "input": {"store": str(tmp_path / "image.ome.zarr")},
        "workdir": str(tmp_path / "work"),
        "output": {"label_name": "nuclei"},
        "tiling": {"tile_shape": case.tile, "overlap": int(os.environ.get("PW_OVERLAP", 32))},
        "method": METHODS[method_name](weights),
    }
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    run = snakemake(cfg)
    assert run.returncode == 0, run.stderr[-4000:]
    iou_labels = tiled_labels(config)
    run = snakemake(cfg, "--config", "stitch={'mode': 'touch'}")
    assert run.returncode == 0, run.stderr[-4000:]
    assert "rule stage" not in run.stderr  # the merge alone reran
    touch_labels = tiled_labels(config)

    # the whole image in one piece, by the same method and normalisation
    plan = Plan(validate_config(config))
    stats = atomic.read_json(plan.path("normalization.json"))
    fn = build_method(plan.config["method"], Context(connectivity=1, intensity_range=(stats["low"], stats["high"])))
    whole = fn(case.image)

    grid = plan.grid
    rows = {"whole": whole, "tiled, stitch iou": iou_labels, "tiled, stitch touch": touch_labels}
    scores = {k: object_f1(case.truth, v) for k, v in rows.items()}
    table = [f"| {method_name} | {case.name} | {k} | {s.f1:.3f} | {s.matched}/{s.true} | "
             f"{'%d / %d' % seam_errors(case.truth, v, grid)} |" for (k, s), v in zip(scores.items(), rows.values())]
    print("\n" + "\n".join(table))
    assert scores["whole"].f1 > 0.6, "the model segments these nuclei at all"
    assert scores["tiled, stitch iou"].f1 >= scores["whole"].f1 - TOLERANCE, table
