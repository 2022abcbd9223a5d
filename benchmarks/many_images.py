"""A run of many images: what planning costs with a sheet of 1 against ``--rows`` OME-Zarr images
(metadata only, 4 tiles each).

- ``snakemake -n`` over the whole sheet (the submit host: every image's metadata read once), wall time
  and peak RSS;
- one cluster job's own Snakemake (``--mode remote --target-jobs``, as the SLURM executor starts it)
  dry-running the first image's prepare job: it reads the images the submit host recorded and plans
  that image only;
- that prepare job itself (``scripts/job.py --image``), run for real.

    python benchmarks/many_images.py [--rows 1000] [--repeats 2]

The figures are in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import REPO, dry_run, snakemake_cmd  # noqa: E402
from synthetic import write_image  # noqa: E402

SHAPE, TILE = (128, 128), [64, 64]  # 4 tiles an image


def sheet_config(root: Path, image: Path, rows: int) -> Path:
    """A sheet of ``rows`` images (links to one metadata-only ``image``) and its config."""
    folder = root / f"rows{rows}"
    folder.mkdir()
    lines = ["image\tstore"]
    for n in range(rows):
        (folder / f"im{n}.ome.zarr").symlink_to(image)
        lines.append(f"im{n}\tim{n}.ome.zarr")
    (folder / "images.tsv").write_text("\n".join(lines) + "\n")
    config = {"input": {"sheet": str(folder / "images.tsv")}, "workdir": str(folder / "work"),
              "output": {"label_name": "bench", "store": str(folder / "labels")},
              "tiling": {"tile_shape": TILE, "overlap": 0},
              "method": {"name": "threshold", "threshold": {"value": 100}}}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path = REPO) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    if proc.returncode:
        sys.exit(f"{cmd[:4]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def measure(root: Path, image: Path, rows: int) -> dict[str, float]:
    cfg = sheet_config(root, image, rows)
    wall, rss = dry_run(snakemake_cmd(cfg, root, 1, "-n"))  # also records the images (images.json)
    remote = timed(snakemake_cmd(cfg, root, 1, "-n", "--mode", "remote", "--target-jobs",
                                 "prepare:image=im0"))
    config = yaml.safe_load(cfg.read_text())
    from patchworks.pipeline.config import validate_config

    env = {**os.environ, "PATCHWORKS_CONFIG": json.dumps(validate_config(config))}
    out = Path(config["workdir"]) / "bench" / "images" / "im0" / "prepare.json"
    job = timed([sys.executable, str(REPO / "scripts" / "job.py"), "--image", "im0", "prepare",
                 "--tile-shape", *map(str, TILE), "--", str(out)], env, cwd=root)  # where Snakemake runs it
    return {"dry run s": wall, "dry run MB": rss, "job's snakemake s": remote, "prepare job s": job}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="many-images-"))
    write_image(root / "image.ome.zarr", SHAPE, tuple(TILE), levels=1, data=False)
    results: dict[int, list[dict[str, float]]] = {1: [], args.rows: []}
    for repeat in range(args.repeats):
        for rows in results:
            run_root = root / f"repeat{repeat}"
            run_root.mkdir(exist_ok=True)
            results[rows].append(measure(run_root, root / "image.ome.zarr", rows))
            print(rows, results[rows][-1], file=sys.stderr)
    print(f"| rows | {' | '.join(results[1][0])} |")
    print(f"|---:|{'---:|' * len(results[1][0])}")
    for rows, runs in results.items():
        cells = [f"{statistics.median(r[key] for r in runs):.1f}" for key in runs[0]]
        print(f"| {rows} | {' | '.join(cells)} |")
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
