"""The shipped demo config runs through the real workflow and labels real nuclei exactly."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml
import zarr
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]


def test_demo_config_segments_real_nuclei(tmp_path: Path) -> None:
    """config/config.yaml (paths moved to tmp) builds the demo image, and its labels equal
    whole-image smoothing + Otsu threshold + connected components up to renumbering."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["input"]["store"] = str(tmp_path / "nuclei.ome.zarr")
    config["workdir"] = str(tmp_path / "work")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    run = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", str(cfg)],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]

    work = tmp_path / "work" / config["output"]["label_name"]
    published = json.loads((work / "published.json").read_text())
    tiles = json.loads((work / "prepare.json").read_text())["tiles"]
    assert tiles >= 20, "the demo should span tens of tiles"
    image = zarr.open_array(str(tmp_path / "nuclei.ome.zarr" / "0"), mode="r")[0]
    labels = zarr.open_array(published["labels"] + "/0", mode="r")[...]
    value = json.loads((work / "threshold.json").read_text())["value"]
    sigma = config["method"]["threshold"]["smooth_sigma"]
    smooth = ndimage.gaussian_filter(image.astype(np.float32), sigma, truncate=4.0)
    reference, n = ndimage.label(smooth > value)
    assert n > 100, "real nuclei, not an empty image"
    assert published["objects"] == n == labels.max()
    pairs = np.unique(np.stack([reference.ravel(), labels.ravel()]), axis=1)
    assert pairs.shape[1] == n + 1 and len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == n + 1
    listed = zarr.open_group(str(tmp_path / "nuclei.ome.zarr" / "labels"), mode="r").attrs["ome"]["labels"]
    assert listed == [config["output"]["label_name"]]
