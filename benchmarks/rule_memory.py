"""Peak RSS of every rule's jobs on images much larger than one tile.

Runs the real workflow on two synthetic images with the same tile shape (one 4x the other in
voxels) and prints, per rule, the largest peak RSS of its jobs (from each job's log), next to
the tile's bytes. Bounded memory shows as equal figures for both images.

    python benchmarks/rule_memory.py [--tile 2048] [--sizes 8192 16384]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import yaml
from synthetic import write_image

REPO = Path(__file__).resolve().parents[1]
PEAK = re.compile(r"patchworks (\w+): done, peak RSS ([\d.]+) MB")


def peak_rss_by_rule(logs: Path) -> dict[str, float]:
    peaks: dict[str, float] = defaultdict(float)
    for log in logs.rglob("*.log"):
        for step, mb in PEAK.findall(log.read_text()):
            peaks[step] = max(peaks[step], float(mb))
    return dict(peaks)


def baseline_rss() -> float:
    """Peak RSS (MB) of a process that only imports what a job imports: the floor of every job."""
    code = ("import patchworks.pipeline.job, patchworks.pipeline.steps; "
            "print(patchworks.pipeline.job.peak_rss_mb())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out)


def run(size: int, tile: int, root: Path, cores: int) -> dict[str, float]:
    store = root / f"img{size}.zarr"
    write_image(store, (size, size), (min(512, size),) * 2, levels=4)
    config = {
        "input": {"store": str(store)}, "workdir": str(root / "work"),
        "output": {"label_name": f"blobs{size}"}, "tiling": {"tile_shape": tile, "overlap": 16},
        "method": {"name": "threshold", "threshold": {"value": "otsu"}}, "pyramid": {"levels": 4},
    }
    cfg = root / f"config{size}.yaml"
    cfg.write_text(yaml.safe_dump(config))
    subprocess.run([sys.executable, "-m", "snakemake", "--cores", str(cores), "-q", "--configfile", str(cfg)],
                   cwd=REPO, check=True)
    return peak_rss_by_rule(root / "work" / f"blobs{size}" / "logs")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tile", type=int, default=2048)
    ap.add_argument("--sizes", type=int, nargs="+", default=[8192, 16384])
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    tile_mb = args.tile**2 * 2 / 2**20
    with tempfile.TemporaryDirectory() as tmp:
        results = {size: run(size, args.tile, Path(tmp), args.cores) for size in args.sizes}
    heads = [f"{s}² ({s * s * 2 / 2**30:.2f} GiB) peak MB" for s in args.sizes]
    print(f"| rule | {' | '.join(heads)} | tile bytes (uint16 in, uint32 labels) |")
    print("|---" * (len(heads) + 2) + "|")
    print(f"| (import only) | {' | '.join(f'{baseline_rss():.0f}' for _ in args.sizes)} | - |")
    rules = sorted(set().union(*results.values()))
    for rule in rules:
        cells = " | ".join(f"{results[s].get(rule, float('nan')):.0f}" for s in args.sizes)
        print(f"| {rule} | {cells} | {tile_mb:.0f} MB in, {2 * tile_mb:.0f} MB labels |")


if __name__ == "__main__":
    main()
