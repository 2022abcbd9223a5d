"""The seeds' Cellpose and StarDist examples, and tile_process with the Cellpose plugin against the
workflow, in the models' environment (``.cache/venv-models``, as tests/test_models.py builds it),
offline: the examples' code and how their model names resolve without a download are in
tests/seed_model_examples.py. Images: the real DSB 2018 nuclei (512 x 512, ground truth) for the
examples, and for the workflow comparison a part of the held-out nuclei mosaic, rotated (an image
no other test segments)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr
from runs import readme_python, REPO, RUN_DIR

from patchworks.evaluation import object_f1
from patchworks.io.images import write_image

EXAMPLES = REPO / "tests" / "seed_model_examples.py"
STARDIST_MODEL = REPO / "models" / "stardist" / "nuclei2d"


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory: pytest.TempPathFactory, cellpose_weights: Path) -> dict[str, str]:
    """Cellpose's model folder holding the converted weights as ``cyto3``; the shipped StarDist
    model zipped for registration as ``2D_versatile_fluo``; Keras' cache in a temp folder."""
    root = tmp_path_factory.mktemp("offline")
    (root / "cellpose").mkdir()
    shutil.copy(cellpose_weights, root / "cellpose" / "cyto3")
    archive = root / "nuclei2d.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in sorted(STARDIST_MODEL.iterdir()):
            z.write(f, f.name)
    return {**os.environ, "CELLPOSE_LOCAL_MODELS_PATH": str(root / "cellpose"),
            "KERAS_HOME": str(root / "keras"), "STARDIST_ZIP": str(archive),
            "STARDIST_MD5": hashlib.md5(archive.read_bytes()).hexdigest(), "OMP_NUM_THREADS": "1"}


def run_examples(python: Path, env: dict[str, str], workdir: Path, *names: str) -> str:
    run = subprocess.run([str(python), str(EXAMPLES), str(workdir), *names], capture_output=True, text=True,
                         env=env, timeout=1800)
    assert run.returncode == 0, run.stderr[-4000:]
    for name in names:
        assert f"example done: {name}" in run.stdout, run.stdout[-2000:]
    return run.stderr


def test_seed_cellpose_and_stardist_examples(tmp_path: Path, python: Path,
                                             offline_env: dict[str, str]) -> None:
    """The four examples run as written (tiles (1, 256, 256) instead of 2048 / 1024) on the DSB
    image as a (1, 512, 512) z/y/x OME-Zarr; each finds the nuclei (object F1 at IoU 0.5 against
    the ground truth above 0.6, the bar of tests/test_models.py), ids 1..N, int32."""
    from stardist.data import test_image_nuclei_2d

    image, truth = test_image_nuclei_2d(return_mask=True)
    names = ["api_page_cellpose", "readme_cellpose", "api_page_stardist", "readme_stardist"]
    for name in names:
        write_image(tmp_path / name / "image.zarr", image[None], "zyx", chunks=(1, 256, 256))
    err = run_examples(python, offline_env, tmp_path, *names)
    assert "write labels: 100%" in err  # progress=True
    stores = {name: tmp_path / name / "labels.zarr" / "labels" for name in names}
    stores["api_page_stardist"] = tmp_path / "api_page_stardist" / "image.zarr" / "labels" / "labels" / "0"
    scores = {}
    for name, store in stores.items():
        labels = zarr.open_array(str(store), mode="r")[...]
        assert labels.dtype == np.int32 and labels.shape[-2:] == (512, 512)
        labels = labels.reshape(512, 512)
        ids = np.unique(labels)
        np.testing.assert_array_equal(ids[ids > 0], np.arange(1, labels.max() + 1))
        scores[name] = object_f1(truth, labels).f1
    print(scores)
    assert all(f1 > 0.6 for f1 in scores.values()), scores
    # the two Cellpose examples are the same calls
    a, b = (zarr.open_array(str(stores[n]), mode="r")[...] for n in ("api_page_cellpose", "readme_cellpose"))
    np.testing.assert_array_equal(a, b)


def test_cellpose_plugin_labels_equal_the_workflow(tmp_path: Path, python: Path,
                                                   offline_env: dict[str, str]) -> None:
    """tile_process(image, cellpose_fn("cyto3", gpu=True, diameter=30), ...) writes the labels that
    ``snakemake`` writes for the same config (method cellpose, stitch touch), bit for bit: one
    normalisation of the image, the same tiles, the same merge."""
    mosaic = np.load(REPO / "tests" / "data" / "nuclei_mosaic.npz")
    part, truth = (np.rot90(mosaic[k][512:896, 128:512]).copy() for k in ("image", "mask"))  # 384², rotated
    write_image(tmp_path / "wf.ome.zarr", part, "yx", chunks=(192, 192))
    (tmp_path / "same_as_workflow").mkdir()
    write_image(tmp_path / "same_as_workflow" / "image.zarr", part, "yx", chunks=(192, 192))
    config = {
        "input": {"store": str(tmp_path / "wf.ome.zarr")},
        "workdir": str(tmp_path / "work"),
        "output": {"label_name": "nuclei", "dtype": "int32"},
        "tiling": {"tile_shape": 192, "overlap": 20},
        "method": {"name": "cellpose", "cellpose": {"model": "cyto3", "gpu": True, "diameter": 30}},
        "stitch": {"mode": "touch"},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    run = subprocess.run([str(python), "-m", "snakemake", "--cores", "2", "--configfile",
                          str(tmp_path / "config.yaml")], cwd=RUN_DIR, capture_output=True, text=True,
                         env=offline_env, timeout=1800)
    assert run.returncode == 0, run.stderr[-4000:]
    run_examples(python, offline_env, tmp_path, "same_as_workflow")
    workflow = zarr.open_array(str(tmp_path / "wf.ome.zarr" / "labels" / "nuclei" / "0"), mode="r")[...]
    api = zarr.open_array(str(tmp_path / "same_as_workflow" / "image.zarr" / "labels" / "nuclei" / "0"),
                          mode="r")[...]
    np.testing.assert_array_equal(api, workflow)
    assert object_f1(truth, api).f1 > 0.6  # it finds the nuclei (the bar of tests/test_models.py)


def test_readme_model_block(tmp_path: Path, python: Path, offline_env: dict[str, str]) -> None:
    """The README's Cellpose and StarDist calls (cellpose_fn, stardist_fn) run as written on the DSB
    image (as a 1 x 512 x 512 z/y/x image; its tiles capped at the image) and find the nuclei."""
    from stardist.data import test_image_nuclei_2d

    (block,) = [b for b in readme_python("Python API") if "cellpose_fn" in b]
    (tmp_path / "block.py").write_text(block)
    image, truth = test_image_nuclei_2d(return_mask=True)
    write_image(tmp_path / "readme_api_models" / "embryo.ome.zarr", image[None], "zyx", chunks=(1, 256, 256))
    run_examples(python, {**offline_env, "README_BLOCK": str(tmp_path / "block.py")}, tmp_path,
                 "readme_api_models")
    for store in ("cells.zarr", "nuclei.zarr"):
        labels = zarr.open_array(str(tmp_path / "readme_api_models" / store / "labels"), mode="r")[0]
        assert labels.dtype == np.int32 and object_f1(truth, labels).f1 > 0.6, store
