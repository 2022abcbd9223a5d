"""Stage jobs of a GPU method ask for a GPU only for tiles that are not empty."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml
from runs import RUN_DIR

from patchworks.io.images import write_image


def test_empty_tiles_never_ask_for_a_gpu(tmp_path: Path) -> None:
    """With skip_empty and a GPU method, each stage job's gpu resource, as Snakemake scheduled it,
    is 1 exactly for the tiles whose occupancy record says they hold signal."""
    image = np.zeros((64, 96), dtype=np.uint16)
    image[5:20, 10:40] = 500  # signal in tiles 0 and 1 only (tiles of 32 x 32)
    image[40:50, 70:90] = 300  # ... and tile 5
    write_image(tmp_path / "img.ome.zarr", image, "yx")
    config = {
        "input": {"store": str(tmp_path / "img.ome.zarr")},
        "workdir": str(tmp_path / "work"),
        "tiling": {"tile_shape": 32, "skip_empty": True, "empty_threshold": 100},
        "method": {"name": "custom", "custom": {
            "function": "patchworks.methods.threshold:label_above",
            "kwargs": {"value": 100, "connectivity": 1}, "gpu": True}},
    }
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    run = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--resources", "gpu=1",
                          "--configfile", str(cfg)], cwd=RUN_DIR, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    scheduled = {}
    for block in run.stderr.split("rule stage:")[1:]:
        tile = int(re.search(r"wildcards: tile=(\d+)", block).group(1))
        scheduled[tile] = int(re.search(r"resources: .*\bgpu=(\d)", block).group(1))
    occupied = {}
    for record in (tmp_path / "work" / "labels" / "occupancy").glob("*.json"):
        data = json.loads(record.read_text())
        occupied[data["tile"]] = int(not data["empty"])
    assert scheduled == occupied == {t: int(t in (0, 1, 5)) for t in range(6)}


def test_named_model_is_fetched_by_a_local_job_before_gpu_jobs(tmp_path: Path) -> None:
    """A model given by name: one `fetch_model` job (a local rule: on the submit host; see
    tests/test_slurm.py for local rules under SLURM) that every stage job waits for, each asking for
    a GPU; a model given as a path: no fetch job."""
    write_image(tmp_path / "img.ome.zarr", np.zeros((64, 96), np.uint16), "yx")
    weights = tmp_path / "my.pth"
    weights.write_bytes(b"")
    for model, fetched in (("cyto3", True), (str(weights), False)):
        config = {
            "input": {"store": str(tmp_path / "img.ome.zarr")}, "workdir": str(tmp_path / "work"),
            "tiling": {"tile_shape": 32, "overlap": 8},
            "method": {"name": "cellpose", "cellpose": {"model": model, "gpu": True}},
        }
        cfg = tmp_path / "config.yaml"
        cfg.write_text(yaml.safe_dump(config))
        run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2", "--resources", "gpu=1",
                              "--configfile", str(cfg)], cwd=RUN_DIR, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-3000:]
        out = run.stdout + run.stderr
        assert bool(re.search(r"^(local)?rule fetch_model:$", out, re.M)) == fetched
        stages = out.split("rule stage:")[1:]
        assert len(stages) == 6
        for block in stages:
            assert ("model.json" in block.split("output:")[0]) == fetched
            assert re.search(r"resources: .*\bgpu=1", block)
