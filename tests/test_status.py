"""patchworks-status reports done, failed and pending jobs of a run, with failed jobs' logs."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from patchworks.images import write_image

REPO = Path(__file__).resolve().parents[1]

FAILING_METHOD = '''
import numpy as np
from scipy import ndimage

def segment(tile):
    if tile.max() >= 900:  # a "strange tile" the method cannot handle
        raise RuntimeError("cannot segment this tile")
    return ndimage.label(tile > 100)[0]
'''


def test_status_names_failed_tile_and_its_log(tmp_path: Path) -> None:
    """With keep-going, one tile's method fails: the status shows it failed (with its log), the
    other tiles' stage jobs done, and the steps after cc pending; the command exits 1."""
    image = np.zeros((40, 60), dtype=np.uint16)
    image[5:15, 5:15] = 500
    image[25:35, 45:55] = 950  # only tile 5 (of 2 x 3 tiles of 20 x 20) holds this
    write_image(tmp_path / "img.ome.zarr", image, "yx")
    (tmp_path / "failing_method.py").write_text(FAILING_METHOD)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({
        "input": {"store": str(tmp_path / "img.ome.zarr")},
        "workdir": str(tmp_path / "work"),
        "tiling": {"tile_shape": 20},
        "method": {"name": "custom", "custom": {"function": "failing_method:segment"}},
    }))
    env = {"PYTHONPATH": str(tmp_path), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--keep-going",
                          "--configfile", str(cfg)], cwd=REPO, capture_output=True, text=True, env=env)
    assert run.returncode != 0
    status = subprocess.run([sys.executable, "-m", "patchworks.status", str(cfg)], cwd=REPO,
                            capture_output=True, text=True, env=env)
    assert status.returncode == 1, status.stderr
    rows = {line.split()[0]: line.split()[1:] for line in status.stdout.splitlines()[1:7]}
    assert rows["stage"] == ["5", "1", "0"]
    assert rows["relabel"] == ["0", "0", "6"]
    assert rows["publish"] == ["0", "0", "1"]
    log = tmp_path / "work" / "labels" / "logs" / "stage" / "5.log"
    assert f"failed stage: {log}" in status.stdout
    assert "cannot segment this tile" in log.read_text()
