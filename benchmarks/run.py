"""Where patchworks stands against the reference implementation (PyPI patchworks==3.3.0).

    python benchmarks/run.py [--shape 128 2048 2048] [--tile 128 1024 1024] [--alt-tile 64 512 512]
                             [--repeats 3]
                             [--dag-tiles 1000 10000] [--dag-repeats 3] [--out docs/benchmarks.md]

One command: builds the reference's own virtual environment (.cache/venv-reference, pip from the
package registry; it is never importable from our venv, it only runs as a subprocess), writes a
synthetic 3-D OME-Zarr of blobs that cross every tile border, then measures, A/B interleaved:

1. end to end: our ``snakemake --cores N`` (threshold method) vs the reference's ``tile_process``
   with the same pointwise threshold + ``scipy.ndimage.label``, same tile, overlap and pyramid;
2. merge: on the staged labels of our last end-to-end run, ours (faces, cc, label_image, pyramid,
   relabel writing every level, publish: ``patchworks.pipeline.steps`` in one process with a pool
   of N workers; our object table, which the reference does not make, timed apart) vs the reference's
   ``merge_tile_labels`` + ``write_labels`` (what its ``tile_process`` runs after staging), and the
   I/O floor (read the staged labels, write them back with the same chunks and codec, no remap);
   (and again with a second tile shape, ``--alt-tile``);
3. DAG scale: ``snakemake -n`` wall time and peak RSS on metadata-only images of many tiles, against
   Snakemake's own floor: the same jobs and edges in a Snakefile of bare rules (``dag_floor.smk``);
4. memory: peak RSS of every rule's jobs (from the job logs of the end-to-end runs) against the tile.

Prints a markdown report and writes it to ``--out`` between the ``generated`` markers (text outside
them, e.g. hand-written analysis, is kept).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml
import zarr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rule_memory import baseline_rss, peak_rss_by_rule  # noqa: E402
from synthetic import write_image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
REFERENCE = "patchworks==3.3.0"
START, END = "<!-- generated:start -->", "<!-- generated:end -->"


# ---------------------------------------------------------------- helpers


def adopt_orphans() -> None:
    """Make this process the reaper of its orphaned descendants (Linux), so that the CPU time of
    detached helpers (the job fork server and the jobs it forks) is counted in RUSAGE_CHILDREN."""
    import ctypes

    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1)


def reap_orphans(seconds: float = 60) -> None:
    """Wait for the adopted descendants still running (a fork server exits within ~1 s of its run)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if not os.waitpid(-1, os.WNOHANG)[0]:
                time.sleep(0.05)
        except ChildProcessError:
            return
    sys.exit("a helper process outlived its run by a minute")


def timed(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> tuple[float, float, str]:
    """Run ``cmd``; return (wall seconds, CPU seconds of it and all its descendants, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def last_json(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


def ref_env() -> dict:
    """An environment in which only the reference venv's packages are importable."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if str(BIN) not in p)
    return env


def ensure_reference(venv: Path) -> Path:
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import importlib.metadata as m; print(m.version('patchworks'))"]
    if (
        python.exists()
        and subprocess.run(probe, capture_output=True, text=True, env=ref_env(), cwd="/").stdout.strip()
        == REFERENCE.split("==")[1]
    ):
        return python
    print(f"creating {venv} with {REFERENCE} ...", file=sys.stderr)
    subprocess.run(["python3", "-m", "venv", "--clear", str(venv)], check=True, env=ref_env())
    subprocess.run([str(python), "-m", "pip", "install", "-q", REFERENCE], check=True, env=ref_env())
    return python


def ref_run(python: Path, mode: str, args: dict) -> tuple[float, float, dict]:
    # cwd "/": nothing of this repository (src/patchworks) can shadow the reference package
    wall, cpu, out = timed(
        [str(python), str(HERE / "_ref_driver.py"), mode, json.dumps(args)], cwd=Path("/"), env=ref_env()
    )
    return wall, cpu, last_json(out)


def our_config(
    image: Path, workdir: Path, label: str, tile: list[int], overlap: int, threshold: float
) -> dict:
    return {
        "input": {"store": str(image)},
        "workdir": str(workdir),
        "output": {"label_name": label, "overwrite": True},
        "tiling": {"tile_shape": tile, "overlap": overlap},
        "method": {"name": "threshold", "threshold": {"value": threshold}},
    }


def snakemake_cmd(cfg: Path, rundir: Path, cores: int, *extra: str) -> list[str]:
    return [
        str(BIN / "snakemake"),
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(rundir),
        "--configfile",
        str(cfg),
        "--cores",
        str(cores),
        "-q",
        *extra,
    ]


def med(xs: list[float]) -> float:
    return statistics.median(xs)


# ---------------------------------------------------------------- measurements


def end_to_end(args, image: Path, ref_python: Path, root: Path) -> dict:
    res: dict[str, list] = defaultdict(list)
    for r in range(args.repeats):
        work = root / f"work-e2e-{r}"
        shutil.rmtree(work, ignore_errors=True)
        cfg = root / f"e2e-{r}.yaml"
        cfg.write_text(
            yaml.safe_dump(our_config(image, work, "ours", args.tile, args.overlap, args.threshold))
        )
        wall, cpu, _ = timed(snakemake_cmd(cfg, root, args.cores))
        method = sum(
            json.loads(p.read_text())["seconds"]["method"] for p in (work / "ours" / "stage").glob("*.json")
        )
        res["ours_wall"].append(wall)
        res["ours_cpu"].append(cpu)
        res["ours_method"].append(method)
        res["ours_work"].append(work)
        wall, cpu, _ = ref_run(
            ref_python,
            "e2e",
            {
                "image": str(image),
                "label": "reference",
                "tile": args.tile,
                "overlap": args.overlap,
                "threshold": args.threshold,
                "levels": args.levels,
                "workers": args.cores,
            },
        )
        res["ref_wall"].append(wall)
        res["ref_cpu"].append(cpu)
        print(
            f"e2e {r}: ours {res['ours_wall'][-1]:.1f}s (method {method:.1f}s summed), reference {wall:.1f}s",
            file=sys.stderr,
        )
    # same objects? (compare counts of the two published label images)
    res["objects"] = json.loads((res["ours_work"][-1] / "ours" / "published.json").read_text())["objects"]
    ref = zarr.open_array(str(image / "labels" / "reference" / "0"), mode="r")
    step = args.tile[0]
    res["ref_objects"] = max(int(np.asarray(ref[z : z + step]).max()) for z in range(0, ref.shape[0], step))
    return res


def merge(args, image: Path, ref_python: Path, root: Path, work: Path) -> dict:
    label_dir = work / "ours"
    cfg = root / "merge.yaml"
    cfg.write_text(yaml.safe_dump(our_config(image, work, "ours", args.tile, args.overlap, args.threshold)))
    counts = [0] * len(list((label_dir / "stage").glob("*.json")))
    for p in (label_dir / "stage").glob("*.json"):
        info = json.loads(p.read_text())
        counts[info["tile"]] = info["count"]
    refstage = root / "refstage.zarr"
    ref_run(
        ref_python,
        "copy_stage",
        {"src": str(label_dir / "stage.zarr"), "dst": str(refstage), "tile": args.tile},
    )
    res: dict[str, list] = defaultdict(list)
    for r in range(args.repeats):
        wall, cpu, out = timed(
            [sys.executable, str(HERE / "_ours_driver.py"), "merge", str(cfg), str(args.cores)]
        )
        res["ours_wall"].append(wall)
        res["ours_cpu"].append(cpu)
        res["ours_parts"].append(last_json(out))
        wall, cpu, _ = timed([sys.executable, str(HERE / "_ours_driver.py"), "table", str(cfg)])
        res["table_wall"].append(wall)
        res["table_cpu"].append(cpu)
        scratch = root / "refmerge.zarr"
        shutil.rmtree(scratch, ignore_errors=True)
        wall, cpu, out = ref_run(
            ref_python,
            "merge",
            {
                "stage": str(refstage),
                "counts": counts,
                "image": str(image),
                "label": "reference-merge",
                "scratch": str(scratch),
                "levels": args.levels,
                "workers": args.cores,
            },
        )
        res["ref_wall"].append(wall)
        res["ref_cpu"].append(cpu)
        res["ref_parts"].append(out)
        dst = root / "floor.zarr"
        wall, cpu, _ = timed(
            [
                sys.executable,
                str(HERE / "_ours_driver.py"),
                "floor",
                str(label_dir / "stage.zarr"),
                str(dst),
                json.dumps(args.tile),
                str(args.cores),
            ]
        )
        shutil.rmtree(dst, ignore_errors=True)
        res["floor_wall"].append(wall)
        res["floor_cpu"].append(cpu)
        print(
            f"merge {r}: ours {res['ours_wall'][-1]:.1f}s, reference {res['ref_wall'][-1]:.1f}s, "
            f"floor {wall:.1f}s",
            file=sys.stderr,
        )
    return res


def dry_run(cmd: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one ``snakemake -n``."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, cwd=cwd)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"dry run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    kb = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1)
    return wall, float(kb) / 1024


def dag(args, root: Path, n_tiles: int) -> dict:
    """snakemake -n on a metadata-only image of ``n_tiles`` tiles of (8, 64, 64) voxels, interleaved with
    Snakemake's floor: the same jobs and edges in a Snakefile of bare rules (dag_floor.smk)."""
    tile = [8, 64, 64]
    nz = 10
    ny = int(math.sqrt(n_tiles // nz))
    nx = n_tiles // nz // ny
    shape = (nz * tile[0], ny * tile[1], nx * tile[2])
    image = root / f"dag{n_tiles}.zarr"
    write_image(image, shape, tuple(tile), levels=1, data=False)
    cfg = root / f"dag{n_tiles}.yaml"
    cfg.write_text(yaml.safe_dump(our_config(image, root / f"work-dag{n_tiles}", "dag", tile, 4, 1000)))
    floor_dir = root / f"dag{n_tiles}-floor"
    floor_dir.mkdir(exist_ok=True)
    (floor_dir / "config.yaml").write_text(yaml.safe_dump({"shape": list(shape), "tile": tile}))
    floor_cmd = [str(BIN / "snakemake"), "--snakefile", str(HERE / "dag_floor.smk"), "--configfile",
                 "config.yaml", "--cores", str(args.cores), "-q", "-n"]
    res: dict[str, list] = defaultdict(list)
    for _ in range(args.dag_repeats):
        for name, key, cmd, cwd in (("ours", "", snakemake_cmd(cfg, root, args.cores, "-n"), None),
                                    ("floor", "floor_", floor_cmd, floor_dir)):
            wall, rss = dry_run(cmd, cwd)
            res[key + "wall"].append(wall)
            res[key + "rss"].append(rss)
            print(f"dag {nx * ny * nz} tiles, {name}: {wall:.1f}s, {rss:.0f} MB", file=sys.stderr)
    return {"asked": n_tiles, "tiles": nx * ny * nz, "grid": (nz, ny, nx), **res}


def rule_memory(works: list[Path]) -> dict[str, float]:
    """Per rule, the largest peak RSS (MB) its jobs logged over all ``works``."""
    peaks: dict[str, float] = defaultdict(float)
    for work in works:
        for step, mb in peak_rss_by_rule(work / "ours" / "logs").items():
            peaks[step] = max(peaks[step], mb)
    return dict(peaks)


# ---------------------------------------------------------------- report


def machine(ref_python: Path) -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) / 2**20
    probe = (
        "import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
        "['patchworks', 'zarr', 'numpy', 'scipy', 'dask', 'numcodecs', 'snakemake', 'fastremap'] "
        "if __import__('importlib.util').util.find_spec(p.replace('-', '_'))}))"
    )
    ours = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout)
    ref = json.loads(
        subprocess.run(
            [str(ref_python), "-c", probe], capture_output=True, text=True, env=ref_env(), cwd="/"
        ).stdout
    )
    fmt = lambda d: ", ".join(f"{k} {v}" for k, v in d.items())  # noqa: E731
    t0 = time.perf_counter()
    subprocess.run([str(BIN / "snakemake"), "--version"], capture_output=True, check=True)
    start = time.perf_counter() - t0
    slurm = ("; SLURM commands are installed: Snakemake's SLURM plugin runs `scontrol show config` at "
             "every start, which waits ~10 s when no slurmctld answers" if shutil.which("scontrol") else "")
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores (this run used `--cores {ARGS.cores}`)",
        f"- RAM: {mem:.1f} GiB; OS: {platform.platform()}",
        f"- Python {platform.python_version()}",
        f"- ours (this checkout, `.venv`): {fmt(ours)}",
        f"- reference (`.cache/venv-reference`): {fmt(ref)}",
        f"- a Snakemake start (`snakemake --version`): {start:.1f} s{slurm}",
    ]


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def report(
    args,
    ref_python: Path,
    e2e: dict | None,
    alt: dict | None,
    mg: dict | None,
    dags: list[dict],
    peaks: dict[str, float],
) -> str:
    vox = math.prod(args.shape)
    gvox = vox / 1e9
    tile_vox = math.prod(args.tile)
    lines = [
        "## Results",
        "",
        f"Image: {' × '.join(map(str, args.shape))} voxels ({vox / 1e9:.3f} Gvoxel, uint16, NGFF 0.5, "
        f"{args.levels} levels), tile {' × '.join(map(str, args.tile))} "
        f"({math.prod(math.ceil(s / t) for s, t in zip(args.shape, args.tile))} tiles; image chunks "
        f"{' × '.join(map(str, args.chunks))}), "
        f"overlap {args.overlap}, "
        f"threshold > {args.threshold:g}, connectivity 1, {args.cores} workers/cores for both tools. "
        f"Every figure is the median of {args.repeats} runs (A/B interleaved) unless noted.",
        "",
    ]
    lines += [
        "| measurement | ours | reference 3.3.0 | ratio (ref / ours) | other |",
        "|---|---|---|---|---|",
    ]
    targets = []
    if mg:
        ow, rw, fw = med(mg["ours_wall"]), med(mg["ref_wall"]), med(mg["floor_wall"])
        oc, rc, fc = med(mg["ours_cpu"]), med(mg["ref_cpu"]), med(mg["floor_cpu"])
        lines.append(
            f"| merge + pyramid, Mvoxel/s (wall) | {vox / ow / 1e6:.1f} | {vox / rw / 1e6:.1f} | "
            f"{rw / ow:.2f}× | I/O floor {vox / fw / 1e6:.1f} |"
        )
        lines.append(
            f"| merge + pyramid, CPU-s per Gvoxel | {oc / gvox:.1f} | {rc / gvox:.1f} | {rc / oc:.2f}× | "
            f"I/O floor {fc / gvox:.1f} |"
        )
        parts = {k: med([p[k] for p in mg["ours_parts"]]) for k in ("faces", "cc", "relabel + pyramid")}
        rparts = {k: med([p[k] for p in mg["ref_parts"]]) for k in ("merge_seconds", "pyramid_seconds")}
        lines.append(
            "| merge breakdown, s (wall, in-process) | "
            + ", ".join(f"{k} {v:.1f}" for k, v in parts.items())
            + f" | merge {rparts['merge_seconds']:.1f}, write_labels {rparts['pyramid_seconds']:.1f} | | |"
        )
        tw, tc = med(mg["table_wall"]), med(mg["table_cpu"])
        lines.append(
            f"| object table + seam check (ours only: the measure step, after the merge), s wall / CPU-s | "
            f"{tw:.1f} / {tc:.1f} | none | | merge + table CPU-s per Gvoxel {(oc + tc) / gvox:.1f}: "
            f"{rc / (oc + tc):.2f}× |"
        )
        targets.append(
            f"- Merge ≥ 3× the reference's throughput per core (voxels per CPU-second): "
            f"{rc / oc:.2f}× → {verdict(rc / oc >= 3)}; wall-clock {rw / ow:.2f}×; with our object table, "
            f"which the reference does not make, {rc / (oc + tc):.2f}×. The I/O floor alone (read the "
            f"staged labels, write level 0) is {rc / fc:.2f}× the reference per CPU-second; ours spends "
            f"{oc / fc:.2f}× the floor's CPU time."
        )
        targets.append(
            f"- Merge + pyramid ≤ 1.3× the I/O floor (wall): {ow / fw:.2f}× the floor → "
            f"{verdict(ow / fw <= 1.3)}."
        )
    if e2e:
        ow, rw = med(e2e["ours_wall"]), med(e2e["ref_wall"])
        om = med(e2e["ours_method"])
        overhead = ow - om / args.cores
        lines.append(
            f"| end to end, wall s | {ow:.1f} | {rw:.1f} | {rw / ow:.2f}× | ours/ref {ow / rw:.2f}× |"
        )
        lines.append(
            f"| end to end, CPU s | {med(e2e['ours_cpu']):.1f} | {med(e2e['ref_cpu']):.1f} | "
            f"{med(e2e['ref_cpu']) / med(e2e['ours_cpu']):.2f}× | |"
        )
        lines.append(f"| end to end, Mvoxel/s (wall) | {vox / ow / 1e6:.1f} | {vox / rw / 1e6:.1f} | | |")
        lines.append(
            f"| ours: time inside the method (sum over tiles) / framework overhead | "
            f"{om:.1f} s / {overhead:.1f} s ({100 * overhead / ow:.0f}% of wall) | | | overhead = wall − "
            f"method sum / {args.cores} cores |"
        )
        lines.append(f"| objects found | {e2e['objects']} | {e2e['ref_objects']} | | |")
        targets.append(
            f"- End to end ≤ 1.0× the reference's wall time, tile {' × '.join(map(str, args.tile))}: "
            f"{ow / rw:.2f}× → {verdict(ow <= rw)}."
        )
    if alt:
        ow, rw = med(alt["ours_wall"]), med(alt["ref_wall"])
        tile = " × ".join(map(str, args.alt_tile))
        lines.append(
            f"| end to end, wall s, tile {tile} | {ow:.1f} | {rw:.1f} | {rw / ow:.2f}× | "
            f"ours/ref {ow / rw:.2f}× |"
        )
        targets.append(f"- End to end ≤ 1.0× the reference's wall time, tile {tile}: {ow / rw:.2f}× → "
                       f"{verdict(ow <= rw)}.")
    for d in dags:
        wall, rss, fwall, frss = (med(d[k]) for k in ("wall", "rss", "floor_wall", "floor_rss"))
        floor = f"Snakemake's floor (same jobs and edges, bare rules): {fwall:.1f} s, {frss:.0f} MB"
        lines.append(
            f"| `snakemake -n`, {d['tiles']:,} tiles (grid {'×'.join(map(str, d['grid']))}) | "
            f"{wall:.1f} s, peak RSS {rss:.0f} MB | n/a | | {floor}; {len(d['wall'])} runs |"
        )
        share = f"{floor}: ours is {wall / fwall:.2f}× its time, {rss / frss:.2f}× its memory"
        if d["asked"] >= 100000:  # the grid rounds down (10,000 asked: 9,920 tiles)
            ok = wall <= 300 and rss <= 8000
            targets.append(
                f"- Dry run of {d['tiles']:,} tiles ≤ 5 min and ≤ 8 GB peak RSS: {wall:.1f} s, "
                f"{rss:.0f} MB → {verdict(ok)}. {share}."
            )
        elif d["asked"] >= 10000:
            targets.append(
                f"- Dry run of {d['tiles']:,} tiles ≤ 30 s: {wall:.1f} s → {verdict(wall <= 30)}. {share}."
            )
    if peaks:
        in_mb, lab_mb = tile_vox * 2 / 2**20, tile_vox * 4 / 2**20
        base = baseline_rss()
        lines += [
            "",
            f"Peak RSS per rule (largest job over all end-to-end runs), tile = {in_mb:.0f} MB of uint16 "
            f"input, {lab_mb:.0f} MB of uint32 labels; interpreter + imports alone: {base:.0f} MB.",
            "",
            "| rule | peak RSS MB | × tile input bytes | × tile label bytes |",
            "|---|---|---|---|",
        ]
        for rule, mb in sorted(peaks.items()):
            lines.append(f"| {rule} | {mb:.0f} | {mb / in_mb:.2f} | {mb / lab_mb:.2f} |")
        per_tile = {k: v for k, v in peaks.items() if k in ("stage", "faces", "relabel")}
        worst = max(per_tile, key=lambda k: per_tile[k]) if per_tile else None
        if worst:
            targets.append(
                f"- Peak RSS per job ≤ 4× its tile's bytes: worst per-tile job `{worst}` "
                f"{per_tile[worst]:.0f} MB = {per_tile[worst] / in_mb:.2f}× the uint16 tile, "
                f"{per_tile[worst] / lab_mb:.2f}× the uint32 label tile → "
                f"{verdict(per_tile[worst] <= 4 * in_mb)} (against the input tile)."
            )
    cmd = "python benchmarks/run.py " + " ".join(
        [
            f"--shape {' '.join(map(str, args.shape))}",
            f"--tile {' '.join(map(str, args.tile))}",
            f"--alt-tile {' '.join(map(str, args.alt_tile))}" if args.alt_tile else "",
            f"--chunks {' '.join(map(str, args.chunks))}",
            f"--repeats {args.repeats}",
            f"--dag-tiles {' '.join(map(str, args.dag_tiles))}",
            f"--dag-repeats {args.dag_repeats}",
            f"--cores {args.cores}",
        ]
    )
    return "\n".join(
        [
            f"_Generated by `benchmarks/run.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
            f"total {time.perf_counter() - T0:.0f} s._",
            "",
            "## Machine",
            "",
            *machine(ref_python),
            "",
            "## Reproduce",
            "",
            "```bash",
            f".venv/bin/{cmd}",
            "```",
            "",
            *lines,
            "",
            "## Targets",
            "",
            *targets,
            "",
        ]
    )


def write_doc(path: Path, generated: str) -> None:
    old = path.read_text() if path.exists() else ""
    if START in old and END in old:
        head, rest = old.split(START, 1)
        tail = rest.split(END, 1)[1]
    else:
        head, tail = "# Benchmarks\n\n", "\n"
    path.write_text(f"{head}{START}\n{generated}\n{END}{tail}")


def main() -> None:
    global ARGS, T0
    T0 = time.perf_counter()
    adopt_orphans()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", type=int, nargs="+", default=[256, 2048, 2048])
    ap.add_argument("--tile", type=int, nargs="+", default=[128, 1024, 1024])
    ap.add_argument("--alt-tile", type=int, nargs="*", default=[64, 512, 512],
                    help="a second tile shape for the end-to-end comparison (none: skip it)")
    ap.add_argument("--chunks", type=int, nargs="+", default=[64, 256, 256], help="the image's zarr chunks")
    ap.add_argument("--overlap", type=int, default=16)
    ap.add_argument("--threshold", type=float, default=1240.0)
    ap.add_argument("--levels", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--dag-tiles", type=int, nargs="*", default=[1000, 10000])
    ap.add_argument("--dag-repeats", type=int, default=3)
    ap.add_argument("--skip", nargs="*", default=[], choices=["e2e", "merge", "dag"])
    ap.add_argument("--root", type=Path, default=REPO / ".cache" / "bench")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = ARGS = ap.parse_args()
    args.root.mkdir(parents=True, exist_ok=True)
    ref_python = ensure_reference(REPO / ".cache" / "venv-reference")
    image = args.root / f"image-{'x'.join(map(str, args.shape))}-{'x'.join(map(str, args.chunks))}.zarr"
    if not (image / "zarr.json").exists():
        print(f"writing {image} ...", file=sys.stderr)
        write_image(image, tuple(args.shape), tuple(args.chunks), args.levels)
    e2e = mg = None
    peaks: dict[str, float] = {}
    if "e2e" not in args.skip or "merge" not in args.skip:
        reps = args.repeats
        if "e2e" in args.skip:
            args.repeats = 1  # one run only to stage the labels the merge reads
        e2e = end_to_end(args, image, ref_python, args.root)
        peaks = rule_memory(e2e["ours_work"])
        args.repeats = reps
        if "merge" not in args.skip:
            mg = merge(args, image, ref_python, args.root, e2e["ours_work"][-1])
        if "e2e" in args.skip:
            e2e = None
    alt = None
    if "e2e" not in args.skip and args.alt_tile:
        (args.root / "alt").mkdir(exist_ok=True)
        alt = end_to_end(argparse.Namespace(**{**vars(args), "tile": args.alt_tile}), image, ref_python,
                         args.root / "alt")
    dags = [] if "dag" in args.skip else [dag(args, args.root, n) for n in args.dag_tiles]
    text = report(args, ref_python, e2e, alt, mg, dags, peaks)
    print(text)
    write_doc(args.out, text)


ARGS: argparse.Namespace
T0 = 0.0

if __name__ == "__main__":
    main()
