"""Cellpose 4 (Cellpose-SAM) for real (issue 31): the real 4.x package, in its own environment
(``.cache/venv-cellpose4``: the ``cellpose-sam`` and ``slurm`` extras, CPU runs), with weights of the
real network class made offline and randomly initialised (``models/cellpose/random_cpsam.py``; trained
weights come from a model hub these machines cannot reach). What such masks mean cannot be judged;
that Cellpose 4's own load, eval and 3-D paths run through the workflow, ``tile_process`` and the
plugin can, and so can the checks that no model is silently swapped for another.

A ViT-L on two CPU cores takes about 4 s per 256-pixel patch: the images are small.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import yaml
import zarr
from runs import RUN_DIR, blobs

from patchworks.io.images import write_image
from patchworks.methods.cellpose_weights import generation

ENV = {**os.environ, "OMP_NUM_THREADS": "2"}


def python_code(python: Path, code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, env={**ENV, **env},
                          cwd=RUN_DIR)


def workflow(python: Path, tmp: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    cfg = tmp / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    return subprocess.run([str(python), "-m", "snakemake", "--cores", "2", "--configfile", str(cfg), *args],
                          cwd=RUN_DIR, capture_output=True, text=True, env=ENV)


def cellpose_config(tmp: Path, store: Path, model: str, **cellpose: object) -> dict:
    return {"input": {"store": str(store)}, "workdir": str(tmp / "work"), "output": {"label_name": "cells"},
            "tiling": {"tile_shape": [2, 20, 20], "overlap": 4},
            "method": {"name": "cellpose", "cellpose": {"model": model, "gpu": False, **cellpose}}}


def test_weights_files_are_told_apart_by_generation(cellpose4_weights: Path, cellpose_weights: Path,
                                                    tmp_path: Path) -> None:
    """From the names in the checkpoint's pickle alone (no torch): Cellpose-SAM's weights, Cellpose 3
    weights (converted from scellseg), and a file that is no checkpoint."""
    assert generation(cellpose4_weights) == 4
    assert generation(cellpose_weights) == 3
    (tmp_path / "notes.pth").write_text("not a checkpoint")
    assert generation(tmp_path / "notes.pth") is None


def test_cellpose3_models_under_cellpose4_are_config_errors(cellpose4: Path, cellpose_weights: Path,
                                                            tmp_path: Path) -> None:
    """Under Cellpose 4, the seeds' ``cyto3`` and a Cellpose 3 weights file stop the workflow before any
    job, and ``cellpose_fn`` at once, naming the installed version and the fixes (Cellpose 4 itself
    would load cpsam_v2 instead of cyto3, and refuse the weights deep in a job)."""
    installed = python_code(cellpose4, "from importlib.metadata import version; print(version('cellpose'))")
    installed = installed.stdout.strip()
    assert installed.startswith("4."), installed
    write_image(tmp_path / "image.ome.zarr", np.zeros((2, 64, 64), np.uint16), "zyx")
    for model, message in [
        ("cyto3", f"method.cellpose.model: 'cyto3' is not a model of Cellpose {installed} (installed here)"),
        (str(cellpose_weights), f"method.cellpose.model: {cellpose_weights} holds Cellpose 3 weights, "
                                f"which Cellpose {installed} (installed here) cannot load"),
    ]:
        config = cellpose_config(tmp_path, tmp_path / "image.ome.zarr", model)
        dry = workflow(cellpose4, tmp_path, config, "-n")
        assert dry.returncode != 0, dry.stderr[-2000:]
        assert f"patchworks: config error: {message}" in dry.stderr, dry.stderr[-2000:]
        print(dry.stderr.strip().splitlines()[-1])  # the message as printed (the note)
    api = python_code(cellpose4, "from patchworks.plugins.cellpose import cellpose_fn; cellpose_fn('cyto3')")
    assert "ConfigError: cellpose_fn(model): 'cyto3' is not a model of Cellpose 4" in api.stderr, api.stderr


def test_cellpose4_weights_under_cellpose3_are_a_config_error(python: Path, cellpose4_weights: Path,
                                                              tmp_path: Path) -> None:
    write_image(tmp_path / "image.ome.zarr", np.zeros((2, 64, 64), np.uint16), "zyx")
    config = cellpose_config(tmp_path, tmp_path / "image.ome.zarr", str(cellpose4_weights))
    dry = workflow(python, tmp_path, config, "-n")
    assert dry.returncode != 0, dry.stderr[-2000:]
    message = f"{cellpose4_weights} holds Cellpose 4 weights, which Cellpose 3."
    assert message in dry.stderr, dry.stderr[-2000:]


def test_workflow_runs_cellpose4_weights_per_plane_with_a_nuclear_channel(
        cellpose4: Path, cellpose4_weights: Path, tmp_path: Path) -> None:
    """A 2-channel 3-D image, each z-plane in 2-D (``channel_axis``, no ``channels``), tiles scaled by the
    image's percentiles and passed with ``normalize`` off: Cellpose 4 loads the weights file in the stage
    jobs' tile server and writes labels of the image's shape; the model's environment is Cellpose-SAM's."""
    data = np.stack([blobs((2, 40, 40), seed) for seed in (1, 2)])
    write_image(tmp_path / "image.ome.zarr", data, "czyx")
    config = cellpose_config(tmp_path, tmp_path / "image.ome.zarr", str(cellpose4_weights), nuclear_channel=1)
    run = workflow(cellpose4, tmp_path, config)
    assert run.returncode == 0, run.stderr[-4000:]
    labels = zarr.open_array(str(tmp_path / "image.ome.zarr" / "labels" / "cells" / "0"), mode="r")
    assert labels.shape == (2, 40, 40) and labels.dtype == np.uint32
    work = tmp_path / "work" / "cells"
    assert (work / "normalization.json").exists()
    logs = "".join(p.read_text() for p in (work / "logs").rglob("*.log"))
    assert f">>>> loading model {cellpose4_weights}" in logs  # Cellpose 4's own load path
    assert "not found, using default model" not in logs
    env = python_code(cellpose4, f"from patchworks.methods import method_of; "
                      f"print(method_of({config['method']!r}).conda_env)")
    assert env.stdout.strip() == "cellpose-sam-gpu.yaml", env.stderr


def test_tile_process_runs_the_cellpose4_plugin_in_2d_and_do_3d(cellpose4: Path, cellpose4_weights: Path,
                                                                tmp_path: Path) -> None:
    """The seeds' API with Cellpose-SAM: ``tile_process(image, cellpose_fn(weights))`` on a 2-D image in 4
    tiles, and on a small stack segmented in 3-D (``do_3D``: Cellpose 4's three-orientation path)."""
    code = f"""
import dask.array as da, numpy as np
from patchworks import tile_process
from patchworks.plugins.cellpose import cellpose_fn
rng = np.random.default_rng(0)
flat = da.from_array((rng.random((96, 80)) * 1000).astype(np.uint16), chunks=(48, 40))
labels = tile_process(flat, cellpose_fn({str(cellpose4_weights)!r}), tile_shape=(48, 40), overlap=8,
                      progress=False, write_to={str(tmp_path / "flat.zarr")!r})
stack = da.from_array((rng.random((2, 8, 8)) * 1000).astype(np.uint16))
labels3 = tile_process(stack, cellpose_fn({str(cellpose4_weights)!r}, do_3D=True), tile_shape=(2, 8, 8),
                       overlap=0, progress=False, write_to={str(tmp_path / "stack.zarr")!r})
print(labels.shape, labels.dtype, labels3.shape, labels3.dtype)
"""
    run = python_code(cellpose4, code)
    assert run.returncode == 0, run.stderr[-4000:]
    assert run.stdout.split("\n")[-2] == "(96, 80) int32 (2, 8, 8) int32", run.stdout


def test_fetch_model_puts_cellpose4_weights_in_the_local_models_path(cellpose4: Path, tmp_path: Path) -> None:
    """``fetch_model`` for ``cpsam`` on the submit host asks Cellpose 4's model hub for that very file and
    keeps it in ``CELLPOSE_LOCAL_MODELS_PATH`` (tested up to the network call, which is recorded)."""
    code = """
import json
from cellpose import utils
calls = []
def download(url, dest, progress=True):
    calls.append([url, dest])
    open(dest, "wb").write(b"weights")
utils.download_url_to_file = download  # the network call
from patchworks.methods.cellpose import fetch
print(json.dumps({"path": fetch("cpsam"), "calls": calls}))
"""
    run = python_code(cellpose4, code, CELLPOSE_LOCAL_MODELS_PATH=str(tmp_path / "models"))
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["path"] == str(tmp_path / "models" / "cpsam")
    assert [url.rsplit("/", 1)[-1] for url, _ in got["calls"]] == ["cpsam"]
    assert (tmp_path / "models" / "cpsam").read_bytes() == b"weights"
