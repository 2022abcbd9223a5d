"""Model start-up in the workflow: Cellpose and StarDist on CPU, served and unserved, vs ``patchworks.run``.

    python benchmarks/models.py [--methods cellpose stardist] [--cores 2]

Runs in the models' environment that the tests build (``.cache/venv-models``, with the Cellpose 3
weights in ``.cache/models``; ``pytest tests/test_models.py`` makes both). The image: the 1024 x 1024
mosaic of real nuclei (``tests/data/nuclei_mosaic.npz``) in tiles of 256 x 256 (16 tiles), overlap
16, ``stitch: touch``, one level. For each method: ``snakemake --cores N`` with tile servers
(``server: true``, the default) and without, and ``patchworks.run(config, workers=N)`` in one
process; the threshold method through the workflow gives the floor of the workflow's own per-job
cost. Reports wall times, the ratio to ``patchworks.run`` (target ≤ 1.2×) and the mean wall time of
each rule's jobs (from Snakemake's log, 1 s resolution) with the method's own time per tile
(median, from the stage records).

``--slurm`` adds two runs through a running SLURM (``tests/slurm/start-slurm.sh``) with the tile
servers on: ``--profile profiles/slurm`` (each stage job a SLURM job of its own) and with
``--profile profiles/stage-bundles`` added (8 stage jobs per SLURM job); ``tests/slurm/ci-profile``
in both, for this one-node cluster's quick polling. For those it reports the SLURM jobs that ran
stage jobs and their allocation seconds per tile (sacct's elapsed time: what a GPU partition bills).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from patchworks.io.images import write_image  # noqa: E402

PYTHON = REPO / ".cache" / "venv-models" / "bin" / "python"
WEIGHTS = REPO / ".cache" / "models" / "scellseg_cellpose3.pth"
METHODS = {
    "cellpose": {"name": "cellpose", "cellpose": {"model": str(WEIGHTS), "gpu": False, "diameter": 28}},
    "stardist": {"name": "stardist",
                 "stardist": {"model": str(REPO / "models/stardist/nuclei2d"), "gpu": False}},
    "threshold": {"name": "threshold", "threshold": {"value": "otsu"}},
}
STAMP = r"\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]\n"
SLURM = ["--profile", str(REPO / "profiles/slurm"), "--profile", str(REPO / "tests/slurm/ci-profile")]
SLURM_MODES = {"slurm": SLURM, "slurm-bundled": [*SLURM, "--profile", str(REPO / "profiles/stage-bundles")]}
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: \S+/slurm_logs/"
                       r"(rule_stage|group_stage_stage)/")  # the SLURM jobs that ran stage jobs


def job_seconds(log: str) -> dict[str, float]:
    """Mean wall seconds of each rule's jobs in one Snakemake log."""
    def when(text: str) -> datetime:
        return datetime.strptime(text, "%a %b %d %H:%M:%S %Y")

    starts = {m[3]: (m[2], when(m[1])) for m in
              re.finditer(STAMP + r"(?:local)?rule (\w+):\n(?:    .*\n)*?    jobid: (\d+)", log)}
    ends = {m[2]: when(m[1]) for m in re.finditer(STAMP + r"Finished jobid: (\d+)", log)}
    per: dict[str, list[float]] = {}
    for job, (rule, start) in starts.items():
        if job in ends and rule != "all":
            per.setdefault(rule, []).append((ends[job] - start).total_seconds())
    return {rule: statistics.mean(v) for rule, v in sorted(per.items())}


def run_one(root: Path, name: str, mode: str, cores: int) -> dict:
    work = root / f"work-{name}-{mode}"
    shutil.rmtree(work, ignore_errors=True)
    method = json.loads(json.dumps(METHODS[name]))
    if mode == "unserved":
        method[name]["server"] = False
    config = {"input": {"store": str(root / "image.ome.zarr")}, "workdir": str(work),
              "output": {"label_name": name, "store": str(work / "out.zarr")},
              "tiling": {"tile_shape": 256, "overlap": 16}, "method": method, "stitch": {"mode": "touch"},
              "pyramid": {"levels": 1}}
    cfg = root / f"{name}-{mode}.yaml"
    cfg.write_text(yaml.safe_dump(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}  # this checkout's code
    if mode == "local":
        code = f"import yaml, patchworks; patchworks.run(yaml.safe_load(open({str(cfg)!r})), workers={cores})"
        cmd = [str(PYTHON), "-c", code]
    else:
        cmd = [str(PYTHON), "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
               str(root), "--configfile", str(cfg), *SLURM_MODES.get(mode, ["--cores", str(cores)])]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{name} {mode} failed:\n{proc.stderr[-3000:]}")
    records = [json.loads(p.read_text()) for p in (work / name / "stage").glob("*.json")]
    result = {"wall": wall, "tiles": len(records),
              "method_median": statistics.median(r["seconds"]["method"] for r in records)}
    if mode in SLURM_MODES:
        jobs = [job for job, _ in SUBMITTED.findall(proc.stdout + proc.stderr)]
        result["slurm_jobs"] = len(jobs)
        result["allocation_per_tile"] = sum(map(elapsed_seconds, jobs)) / len(records)
    elif mode != "local":
        logs = sorted((root / ".snakemake" / "log").glob("*.snakemake.log"), key=lambda p: p.stat().st_mtime)
        result["jobs"] = job_seconds(logs[-1].read_text())
    print(f"{name} {mode}: {wall:.1f} s", file=sys.stderr, flush=True)
    return result


def elapsed_seconds(job: str) -> int:
    """sacct's elapsed wall time of SLURM job ``job`` (its allocation), in seconds."""
    out = subprocess.run(["sacct", "-X", "-P", "-n", "-j", job, "--format=ElapsedRaw"], capture_output=True,
                         text=True, check=True).stdout.split()
    return int(out[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["cellpose", "stardist"],
                    choices=["cellpose", "stardist"])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--root", type=Path, default=REPO / ".cache" / "bench-models")
    ap.add_argument("--slurm", action="store_true", help="also run through SLURM, per tile and bundled")
    args = ap.parse_args()
    if not PYTHON.exists() or not WEIGHTS.exists():
        raise SystemExit("no .cache/venv-models or Cellpose weights: run `pytest tests/test_models.py` once")
    args.root.mkdir(parents=True, exist_ok=True)
    image = np.load(REPO / "tests/data/nuclei_mosaic.npz")["image"][:1024, :1024]
    write_image(args.root / "image.ome.zarr", image, "yx", chunks=(256, 256))
    floor = run_one(args.root, "threshold", "served", args.cores)
    rows = [f"Floor: the threshold method through the workflow, {floor['wall']:.1f} s "
            f"(its jobs: {fmt_jobs(floor['jobs'])}).", "",
            "| method | mode | wall s | × `patchworks.run` | method s per tile (median) | "
            "stage job s (mean) | target ≤ 1.2× |", "|---|---|---|---|---|---|---|"]
    for name in args.methods:
        modes = ("local", "served", "unserved", *(SLURM_MODES if args.slurm else ()))
        res = {mode: run_one(args.root, name, mode, args.cores) for mode in modes}
        local = res["local"]["wall"]
        for mode in (*modes[1:], "local"):
            r = res[mode]
            ratio = r["wall"] / local
            stage = f"{r['jobs']['stage']:.1f}" if "jobs" in r else "n/a"
            if mode in SLURM_MODES:
                stage = f"{r['slurm_jobs']} SLURM jobs, {r['allocation_per_tile']:.1f} allocation s per tile"
            verdict = ("**met**" if ratio <= 1.2 else "**missed**") if mode == "served" else ""
            rows.append(f"| {name} | {mode} | {r['wall']:.1f} | {ratio:.2f}× | {r['method_median']:.2f} | "
                        f"{stage} | {verdict} |")
        rows += [f"| {name} | jobs, served | {fmt_jobs(res['served']['jobs'])} | | | | |"]
    print("\n".join(rows))


def fmt_jobs(jobs: dict[str, float]) -> str:
    return ", ".join(f"{rule} {s:.1f}" for rule, s in jobs.items())


if __name__ == "__main__":
    main()
