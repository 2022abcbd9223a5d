"""Label digests, to show that a change keeps every label id: a sha256 per level of label images.

    python benchmarks/label_digests.py runs REPO OUT   run REPO's workflow (its Snakefile, its ``src`` on
                                                       PYTHONPATH, e.g. a worktree of an older commit) on
                                                       the demo and the test suite's images; one line each
    python benchmarks/label_digests.py digest LABELS... the digests of existing label images

Run ``runs`` once for each of two commits and diff the outputs. Images are written by the tests'
own helpers (seeded) into OUT/images.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml
import zarr

TESTS = Path(__file__).resolve().parents[1] / "tests"


def digest(labels: str) -> dict[str, object]:
    """sha256 of each level's values (read 16 planes at a time), with dtype, shape and the largest id."""
    group = zarr.open_group(labels, mode="r")
    out: dict[str, object] = {}
    for key in sorted(group.array_keys(), key=int):
        array, h, top = group[key], hashlib.sha256(), 0
        for z in range(0, array.shape[0], 16):
            part = np.ascontiguousarray(array[z:z + 16])
            h.update(part.tobytes())
            top = max(top, int(part.max(initial=0)))
        out[key] = f"{h.hexdigest()[:16]} {array.dtype} {array.shape} max {top}"
    return out


def cases() -> dict[str, dict]:
    """The workflow test's cases, and 3-D tilings that do not divide the image, at every connectivity."""
    from test_workflow import CASES

    runs = {name: dict(axes=c.axes, spatial=c.spatial, channels=c.channels, channel=c.channel,
                       version=c.version, scale=c.scale, levels=c.levels, dtype=c.dtype, tile=list(c.tile),
                       overlap=c.overlap, value=c.value, connectivity=c.connectivity,
                       pyramid={"levels": c.levels, "downscale": c.downscale, "method": c.pyramid_method,
                                "downscale_z": c.downscale_z})
            for name, c in CASES.items()}
    for tile in [(8, 16, 16), (10, 24, 28)]:
        for overlap in (0, 4):
            for connectivity in (1, 2, 3):
                runs[f"3d-{'x'.join(map(str, tile))}-overlap{overlap}-conn{connectivity}"] = dict(
                    axes="zyx", spatial=(21, 46, 50), channels=1, channel=0, version="0.5", scale=None,
                    levels=3, dtype="uint16", tile=list(tile), overlap=overlap, value=0.9,
                    connectivity=connectivity, pyramid={"levels": 3})
    return runs


def run(repo: Path, folder: Path, config: dict) -> dict[str, object]:
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(repo / "Snakefile"), "--directory",
               str(repo), "--cores", "2", "--configfile", str(folder / "config.yaml")]
    env = dict(os.environ, PYTHONPATH=str(repo / "src"))
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{folder.name} failed:\n{proc.stderr[-3000:]}")
    return digest(config["input"]["store"] + "/labels/cells")


def runs(repo: Path, out: Path) -> None:
    sys.path.insert(0, str(TESTS))  # the tests' image helpers and cases
    from runs import make_image

    def fresh(name: str) -> Path:
        shutil.rmtree(out / name, ignore_errors=True)
        (out / name).mkdir(parents=True)
        return out / name

    folder = fresh("demo")  # the quick start's config: real nuclei, otsu on a smoothed image
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    config["input"]["store"] = str(folder / "image.ome.zarr")
    config["workdir"], config["output"]["label_name"] = str(folder / "work"), "cells"
    print("demo", json.dumps(run(repo, folder, config)), flush=True)
    for name, c in cases().items():
        key = "-".join(map(str, (c["axes"], "x".join(map(str, c["spatial"])), c["channels"], c["version"],
                                 c["levels"], c["dtype"])))
        source = out / "images" / f"{key}.ome.zarr"
        if not source.exists():
            make_image(source, c["axes"], c["spatial"], c["channels"], seed=7, version=c["version"],
                       scale=c["scale"], levels=c["levels"], dtype=c["dtype"])
        data = np.asarray(zarr.open_group(str(source), mode="r")["0"])
        image = data[c["channel"]] if "c" in c["axes"] else data
        value = "otsu" if c["value"] == "otsu" else float(np.quantile(image, c["value"]))
        folder = fresh(name)
        shutil.copytree(source, folder / "image.ome.zarr")
        config = {"input": {"store": str(folder / "image.ome.zarr"), "channel": c["channel"]},
                  "output": {"label_name": "cells"}, "workdir": str(folder / "work"),
                  "tiling": {"tile_shape": c["tile"], "overlap": c["overlap"]},
                  "method": {"name": "threshold", "threshold": {"value": value}},
                  "connectivity": c["connectivity"], "pyramid": c["pyramid"]}
        print(name, json.dumps(run(repo, folder, config)), flush=True)


def main() -> None:
    if sys.argv[1] == "runs":
        runs(Path(sys.argv[2]).resolve(), Path(sys.argv[3]).resolve())
    else:
        for labels in sys.argv[2:]:
            print(labels, json.dumps(digest(labels)), flush=True)


if __name__ == "__main__":
    main()
