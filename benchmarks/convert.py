"""Conversion of a microscope file to OME-Zarr: throughput and peak RSS per job, on two file sizes.

Writes two calibrated 3-D OME-TIFFs (tifffile, plane by plane) of about ``--sizes-mb`` each into a
temporary folder (not kept), runs only the workflow's conversion jobs on each (the real
``snakemake``, target: the conversion's record) and prints, per file, the wall time and MB/s of the
whole conversion (Snakemake and job start-up included), the longest slab job and the MB/s of the
slab jobs alone (file MB / their summed seconds), the seconds of the pyramid + metadata job, and
the largest peak RSS of each conversion rule's jobs (from their logs). Bounded memory shows as equal
per-job figures for both sizes, whatever the file's.

    python benchmarks/convert.py [--sizes-mb 200 1000] [--plane 2048] [--tile 16 1024 1024]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
import yaml
from rule_memory import peak_rss_by_rule
from synthetic import blobs

REPO = Path(__file__).resolve().parents[1]


def write_ome_tiff(path: Path, planes: int, side: int) -> None:
    def pages():
        for z in range(planes):
            yield blobs((slice(z, z + 1), slice(0, side), slice(0, side)))[0]

    tifffile.imwrite(path, pages(), shape=(planes, side, side), dtype=np.uint16, ome=True,
                     metadata={"axes": "ZYX", "PhysicalSizeZ": 2.0, "PhysicalSizeY": 0.325,
                               "PhysicalSizeX": 0.325, "PhysicalSizeZUnit": "µm",
                               "PhysicalSizeYUnit": "µm", "PhysicalSizeXUnit": "µm"})


def baseline_rss() -> float:
    """Peak RSS (MB) of a process that only imports what a conversion job imports: every job's floor."""
    code = ("import patchworks.pipeline.job, patchworks.pipeline.steps, bioio, bioio_ome_tiff; "
            "print(patchworks.pipeline.job.peak_rss_mb())")
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout)


def run(root: Path, mb: int, side: int, tile: list[int], cores: int) -> dict[str, float]:
    planes = max(1, round(mb * 2**20 / (side * side * 2)))
    source = root / f"scan{mb}.ome.tif"
    write_ome_tiff(source, planes, side)
    config = {"input": {"store": str(source)}, "workdir": str(root / f"work{mb}"),
              "tiling": {"tile_shape": tile}, "method": {"name": "threshold", "threshold": {"value": 1000}}}
    cfg = root / f"config{mb}.yaml"
    cfg.write_text(yaml.safe_dump(config))
    target = root / f"work{mb}" / "labels" / "convert.json"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", str(target), "--cores", str(cores), "-q",
                    "--configfile", str(cfg)], cwd=REPO, check=True)
    wall = time.perf_counter() - t0
    size = source.stat().st_size / 1e6
    work = root / f"work{mb}" / "labels"
    peaks = peak_rss_by_rule(work / "logs")
    slabs = [json.loads(p.read_text())["seconds"] for p in (work / "convert").glob("*.json")]
    return {"file_mb": size, "planes": planes, "regions": math.ceil(planes / tile[0]), "wall_s": wall,
            "mb_per_s": size / wall, "region_mb": tile[0] * side * side * 2 / 1e6,
            "slab_s": max(slabs), "slab_mb_per_s": size / sum(slabs),
            "finish_s": json.loads((work / "convert.json").read_text())["seconds"],
            **{f"rss_{k}": v for k, v in peaks.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes-mb", type=int, nargs="+", default=[200, 1000])
    ap.add_argument("--plane", type=int, default=2048, help="y = x of every plane")
    ap.add_argument("--tile", type=int, nargs=3, default=[16, 1024, 1024])
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    floor = baseline_rss()
    print(f"floor (imports of a conversion job): {floor:.0f} MB; tile {args.tile}; {args.cores} cores")
    print(f"{'file MB':>8} {'planes':>6} {'slabs':>5} {'wall s':>7} {'MB/s':>6} {'slab MB':>8} "
          f"{'slab s':>7} {'MB/s/job':>9} {'finish s':>9} {'init RSS':>9} {'convert RSS':>12} "
          f"{'finish RSS':>11}")
    with tempfile.TemporaryDirectory(prefix="patchworks-bench-convert-") as tmp:
        for mb in args.sizes_mb:
            r = run(Path(tmp), mb, args.plane, args.tile, args.cores)
            print(f"{r['file_mb']:>8.0f} {r['planes']:>6} {r['regions']:>5} {r['wall_s']:>7.1f} "
                  f"{r['mb_per_s']:>6.1f} {r['region_mb']:>8.0f} {r['slab_s']:>7.1f} "
                  f"{r['slab_mb_per_s']:>9.1f} {r['finish_s']:>9.1f} {r['rss_convert_init']:>9.0f} "
                  f"{r['rss_convert']:>12.0f} {r['rss_convert_finish']:>11.0f}", flush=True)


if __name__ == "__main__":
    main()
