"""The SLURM cluster profile on a real one-node SLURM (tests/slurm/start-slurm.sh).

The profile is installed as the README says (``~/.config/snakemake/slurm``; any existing one is
put back afterwards) and three runs go through the literal
``snakemake --profile slurm --profile tests/slurm/ci-profile --configfile <cfg>`` at once, each
under ``timeout -s KILL``: a GPU custom method (stage jobs on partition ``gpu`` with one GPU, each
handing its tile to a tile server in its SLURM job; its first call fails, so that tile's stage job
alone is resubmitted, with twice the memory) and the threshold method (all on ``cpu``); and the
GPU method once more with ``profiles/stage-bundles`` added (its stage jobs bundled: one SLURM job,
one tile server for the bundle). ``sacct`` is the judge of where each job ran; the labels
must equal those of a local run bit for bit. The bundling set in the profile (groups) is on.

Needs SLURM running, or root and apt-get to start it (about 4 minutes in all on 2 cores);
skipped otherwise, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr
from runs import REPO, RUN_DIR, linked_repo, make_image
from scipy import ndimage
from snakelog import jobs_finished, jobs_run, started_jobs

CI = os.environ.get("CI", "").lower() == "true"
RUN_TIMEOUT = 900  # seconds: a hang guard (SIGKILL) per snakemake run; CI once ran past 420
USER_PROFILE = Path.home() / ".config" / "snakemake" / "slurm"
BACKUP = USER_PROFILE.with_name("slurm.backup-by-patchworks-test")
# the README's install step, verbatim
INSTALL = "mkdir -p ~/.config/snakemake && cp -r profiles/slurm ~/.config/snakemake/slurm"
_bin = Path(sys.executable).parent / "snakemake"
SNAKEMAKE = [str(_bin)] if _bin.exists() else [sys.executable, "-m", "snakemake"]
SLURM_RUN = ["--profile", "slurm", "--profile", "tests/slurm/ci-profile"]
BUNDLES = ("--profile", "profiles/stage-bundles")
# Snakemake finds `--profile slurm` in $XDG_CONFIG_HOME/snakemake, else ~/.config/snakemake
ENV = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "SNAKEMAKE_PROFILE")}
ENV["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "tests/slurm"), os.environ.get("PYTHONPATH")]))

# label_above (sigma 2, > 47), except that the run's first call fails: that tile is retried
GPU_KWARGS = {"value": 47, "connectivity": 1, "sigma": 2}
FLAKY = "flaky_method:label_above_failing_once"  # tests/slurm/flaky_method.py
THRESHOLD_METHOD = {"name": "threshold", "threshold": {"value": "otsu", "smooth_sigma": 2}}
# 4 tiles; empty tiles skipped: per-tile occupancy jobs (on cpu) decide which stage jobs need a GPU
GPU_TILING = {"tile_shape": [512, 512], "skip_empty": True, "empty_threshold": 47}
CPU_TILING = {"tile_shape": [512, 1024]}  # 2 tiles

SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: (\S+)\)")
RUN_ID = re.compile(r"SLURM run ID: (\S+)")
SERVED = re.compile(r"in tile server pid (\d+)")
DONE = re.compile(r"^(\d+) of \1 steps \(100%\) done$", re.M)


def unavailable(reason: str) -> None:
    """Skip (fail under CI=true) every test here: this machine cannot run SLURM."""
    if CI:
        pytest.fail(f"CI=true, but SLURM cannot run here: {reason}", pytrace=False)
    pytest.skip(f"SLURM cannot run here: {reason}")


def sh(*cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=RUN_DIR, env=ENV, capture_output=True, text=True, timeout=timeout)


def slurm_up() -> bool:
    """The controller answers, the node is usable and accounting (sacct) works."""
    if not (shutil.which("sinfo") and shutil.which("sacct")):
        return False
    try:
        sinfo = sh("sinfo", "-h", "-o", "%a %t", timeout=20)
        sacct = sh("sacct", "-n", "-X", "-S", "now", timeout=20)
    except subprocess.TimeoutExpired:
        return False
    states = sinfo.stdout.split()
    return (sinfo.returncode == 0 and sacct.returncode == 0 and "up" in states
            and any(s.rstrip("*~#") in ("idle", "mix", "alloc") for s in states))


@dataclass
class Run:
    """One snakemake run on SLURM and what it left: output, run id and its jobs as sacct sees them."""

    name: str
    config: dict
    cfg: Path
    out: Path
    proc: subprocess.Popen | None = None
    rc: int | None = None
    text: str = ""
    run_id: str = ""
    logs: dict[str, Path] = field(default_factory=dict)  # SLURM job id -> log under slurm_logs
    profiles: tuple[str, ...] = ()  # added to SLURM_RUN
    jobs: dict[str, dict[str, str]] = field(default_factory=dict)  # sacct's row per job

    @property
    def labels(self) -> Path:
        return Path(self.config["input"]["store"]) / "labels" / self.config["output"]["label_name"]

    def tail(self) -> str:
        return f"{self.name}: rc={self.rc}\n" + self.text[-4000:]


def gpu_method(tmp: Path, name: str) -> dict:
    marker = str(tmp / f"{name}.first-call")
    return {"name": "custom", "custom": {"function": FLAKY, "kwargs": {**GPU_KWARGS, "marker": marker},
                                         "gpu": True, "server": True}}


def write_config(tmp: Path, name: str, method: dict, tiling: dict) -> tuple[dict, Path]:
    config = {"input": {"store": str(tmp / name / "nuclei.ome.zarr"), "demo": True},
              "workdir": str(tmp / name / "work"), "output": {"label_name": "nuclei"},
              "tiling": {"overlap": 8, **tiling}, "method": method}
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump(config))
    return config, cfg


def collect(run: Run) -> None:
    """Read the run's output: its run id (the SLURM job name), job ids and logs; then sacct's rows."""
    run.text = run.out.read_text()
    found = RUN_ID.search(run.text)
    run.run_id = found.group(1) if found else ""
    for jobid, log in SUBMITTED.findall(run.text):  # rule_<rule>/<wildcards>/<id>.log, group_<...>/<id>.log
        run.logs[jobid] = Path(log.split("/slurm_logs/", 1)[-1])
    if run.logs:
        run.jobs = sacct(list(run.logs))


def sacct(ids: list[str], tries: int = 15) -> dict[str, dict[str, str]]:
    """sacct's row for each job, retried while a Partition is still empty (just after a job ends)."""
    fields = ["JobID", "Partition", "State", "AllocTRES", "ReqMem"]
    rows: dict[str, dict[str, str]] = {}
    for _ in range(tries):
        res = sh("sacct", "-X", "-P", "-n", "-j", ",".join(ids), f"--format={','.join(fields)}")
        parsed = (dict(zip(fields, line.split("|"))) for line in res.stdout.splitlines())
        rows = {r["JobID"]: r for r in parsed}
        if res.returncode == 0 and rows and all(r["Partition"] for r in rows.values()):
            break
        time.sleep(1)
    return rows


def cleanup(run: Run) -> None:
    """Cancel whatever the run left on SLURM, then drop Snakemake's lock if it was killed."""
    if run.proc is not None and run.proc.poll() is None:
        run.proc.kill()
        run.proc.wait()
    if run.run_id:
        left = sh("squeue", "-h", "--name", run.run_id, "-o", "%i").stdout.split()
        if left:
            sh("scancel", *left)
    if run.rc != 0:
        sh(*SNAKEMAKE, *SLURM_RUN, *run.profiles, "--configfile", str(run.cfg), "--unlock", timeout=120)


SHEET_IMAGES = {"flat": ("yx", (96, 80)), "stack": ("zyx", (10, 40, 36))}


def sheet_run(tmp: Path) -> Run:
    """A run of a sheet of two images (a 2-D and a 3-D OME-Zarr; threshold method)."""
    folder = tmp / "sheet"
    folder.mkdir()
    for seed, (name, (axes, shape)) in enumerate(SHEET_IMAGES.items()):
        make_image(folder / f"{name}.ome.zarr", axes, shape, seed=40 + seed)
    rows = "".join(f"{name}\t{name}.ome.zarr\n" for name in SHEET_IMAGES)
    (folder / "images.tsv").write_text("image\tstore\n" + rows)
    config = {"input": {"sheet": str(folder / "images.tsv")}, "workdir": str(folder / "work"),
              "output": {"label_name": "cells"}, "tiling": {"tile_shape": 32, "overlap": 0},
              "method": {"name": "threshold"}}  # 9 and 4 tiles
    cfg = tmp / "sheet.yaml"
    cfg.write_text(yaml.safe_dump(config))
    return Run("sheet", config, cfg, tmp / "sheet.out")


# fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def slurm() -> None:
    """A running SLURM with accounting: started with tests/slurm/start-slurm.sh when it is not up."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        unavailable("snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')")
    if slurm_up():
        return
    if os.geteuid() != 0:
        unavailable("SLURM is not running, and installing and starting it needs root")
    if not shutil.which("apt-get"):
        unavailable("SLURM is not running, and start-slurm.sh installs it with apt-get (Debian)")
    start = sh("bash", "tests/slurm/start-slurm.sh", timeout=900)
    assert start.returncode == 0, start.stdout[-3000:] + start.stderr[-3000:]
    assert slurm_up(), "start-slurm.sh succeeded but sinfo/sacct do not answer"


@pytest.fixture(scope="module")
def user_profile(slurm: None):
    """profiles/slurm installed as the user profile, by the README's command; any existing one kept aside."""
    assert not BACKUP.exists(), f"{BACKUP} is left from an interrupted test: restore it to {USER_PROFILE}"
    if USER_PROFILE.exists() or USER_PROFILE.is_symlink():
        USER_PROFILE.rename(BACKUP)
    try:
        subprocess.run(["bash", "-c", INSTALL], cwd=REPO, env=ENV, check=True)
        yield USER_PROFILE
    finally:
        if USER_PROFILE.is_symlink() or USER_PROFILE.is_file():
            USER_PROFILE.unlink()
        elif USER_PROFILE.exists():
            shutil.rmtree(USER_PROFILE)
        if BACKUP.exists() or BACKUP.is_symlink():
            BACKUP.rename(USER_PROFILE)


@pytest.fixture(scope="module")
def runs(user_profile: Path, tmp_path_factory: pytest.TempPathFactory):
    """The SLURM runs at once (GPU custom method, 4 tiles; threshold, 2 tiles; the GPU method with
    stage bundles), each from a folder of its own, and the GPU config run locally meanwhile."""
    tmp = tmp_path_factory.mktemp("slurm")
    todo = {}
    configs = (("gpu", gpu_method(tmp, "gpu"), GPU_TILING, ()), ("cpu", THRESHOLD_METHOD, CPU_TILING, ()),
               ("bundled", gpu_method(tmp, "bundled"), GPU_TILING, BUNDLES))
    for name, method, tiling, profiles in configs:
        config, cfg = write_config(tmp, name, method, tiling)
        todo[name] = Run(name, config, cfg, tmp / f"{name}.out", profiles=profiles)
    todo["sheet"] = sheet_run(tmp)
    local_config, local_cfg = write_config(tmp, "local", gpu_method(tmp, "local"), GPU_TILING)
    try:
        for run in todo.values():  # one retry (the installed profile's retries; ci-profile sets 0)
            cmd = ["timeout", "-s", "KILL", str(RUN_TIMEOUT),
                   *SNAKEMAKE, *SLURM_RUN, *run.profiles, "--retries", "1", "--configfile", str(run.cfg)]
            folder = linked_repo(tmp / f"{run.name}-repo")
            with run.out.open("w") as out:
                run.proc = subprocess.Popen(cmd, cwd=folder, env=ENV, stdout=out, stderr=subprocess.STDOUT)
        local = sh(*SNAKEMAKE, "--cores", "2", "--retries", "1", "--configfile", str(local_cfg),
                   timeout=RUN_TIMEOUT)
        for run in todo.values():
            run.rc = run.proc.wait(timeout=RUN_TIMEOUT + 60)
            collect(run)
        yield todo, local, local_config
    finally:
        for run in todo.values():
            if not run.text and run.out.exists():
                collect(run)
            cleanup(run)


# tests -------------------------------------------------------------------------------------------
def occupied_tiles(run: Run, n_tiles: int) -> set[int]:
    """Tiles not found empty by their occupancy job (a tile without a record needs a GPU)."""
    work = Path(run.config["workdir"]) / run.config["output"]["label_name"]
    empty = {rec["tile"] for rec in (json.loads(p.read_text()) for p in (work / "occupancy").glob("*.json"))
             if rec["empty"]}
    return set(range(n_tiles)) - empty


def check_jobs(run: Run, n_tiles: int, gpu: bool) -> None:
    """Every job of the run COMPLETED, except (GPU run) one stage job that failed on its first try
    and was resubmitted alone, with twice the memory; stage jobs of occupied tiles (GPU method) on
    `gpu` with one GPU, every other job on `cpu` without; bundles in use."""
    assert run.rc == 0, run.tail()
    assert run.run_id and run.logs, run.tail()
    # -S: by name alone, sacct lists only jobs since midnight (a run across midnight lost its first jobs)
    named = sh("sacct", "-X", "-P", "-n", "-S", "now-2days", "--name", run.run_id,
               "--format=JobID").stdout.split()
    assert sorted(named) == sorted(run.jobs), f"jobs of run {run.run_id} not all seen: {named} {run.jobs}"
    occupied = occupied_tiles(run, n_tiles)
    log = run.logs  # rule_<rule>/<wildcards>/<id>.log or group_<group>_<rules>/<id>.log
    kind = {job: path.parts[0] for job, path in log.items()}
    stage_jobs: dict[int, list[str]] = {}
    for job, row in run.jobs.items():
        on_gpu = gpu and kind[job] == "rule_stage" and int(log[job].parts[1]) in occupied
        assert row["Partition"] == ("gpu" if on_gpu else "cpu"), (job, log[job], row)
        assert ("gres/gpu=1" in row["AllocTRES"]) == on_gpu, (job, log[job], row)
        if kind[job] == "rule_stage":
            stage_jobs.setdefault(int(log[job].parts[1]), []).append(job)
        else:
            assert row["State"] == "COMPLETED", (job, log[job], row)
    assert sorted(stage_jobs) == list(range(n_tiles)), stage_jobs
    for rule in ("prepare", "label_image", "pyramid", "publish"):  # metadata steps: on the submit host
        assert f"localrule {rule}:" in run.text and f"rule_{rule}" not in kind.values(), rule
    retried = {tile: jobs for tile, jobs in stage_jobs.items() if len(jobs) > 1}
    assert len(retried) == (1 if gpu else 0), retried  # the flaky method fails once, on one tile
    for tile, jobs in stage_jobs.items():
        rows = [run.jobs[j] for j in sorted(jobs, key=int)]
        assert [r["State"] for r in rows] == ["FAILED"] * (len(rows) - 1) + ["COMPLETED"], (tile, rows)
        assert [r["ReqMem"] for r in rows] == [f"{4000 * n}M" for n in range(1, len(rows) + 1)], rows
    assert set(retried) <= occupied and (not gpu or occupied), (occupied, retried)
    # bundling (the profile's groups): fewer SLURM jobs than Snakemake jobs; relabel jobs bundled
    steps = int(DONE.findall(run.text)[-1])  # every rule job and the local rule `all`
    assert len(run.jobs) < steps - 1, (len(run.jobs), steps, kind)
    assert any(k.startswith("group_") and "relabel" in k for k in kind.values()), kind


def test_gpu_method_stage_jobs_on_gpu_partition_labels_equal_local(runs) -> None:
    """GPU method: stage jobs ran on `gpu` with one GPU, the rest on `cpu`; labels equal a local run's."""
    todo, local, local_config = runs
    run = todo["gpu"]
    check_jobs(run, n_tiles=4, gpu=True)
    records = list((Path(run.config["workdir"]) / "nuclei" / "occupancy").glob("*.json"))
    assert len(records) == 4, "skip_empty with a GPU method: one occupancy record per tile"
    kinds = {path.parts[0] for path in run.logs.values()}
    assert any(k.startswith("group_") and "occupancy" in k for k in kinds), kinds
    logs = Path(run.config["workdir"]) / "nuclei" / "logs" / "stage"
    for tile in occupied_tiles(run, 4):  # segmented in a tile server inside the tile's SLURM job
        assert "in tile server pid" in (logs / f"{tile}.log").read_text(), tile
    assert local.returncode == 0, local.stderr[-3000:]
    ours = zarr.open_group(str(run.labels), mode="r")
    ref_path = Path(local_config["input"]["store"]) / "labels" / local_config["output"]["label_name"]
    ref = zarr.open_group(str(ref_path), mode="r")
    levels = sorted(ours.array_keys())
    assert levels == sorted(ref.array_keys()) and "0" in levels and len(levels) > 1, levels
    for level in levels:
        a, b = ours[level][...], ref[level][...]
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), f"level {level} differs"
    assert ours["0"][...].max() > 100, "real nuclei, not an empty image"


def test_stage_bundle_has_one_tile_server_on_gpu_partition(runs) -> None:
    """profiles/stage-bundles: the 4 stage jobs are one SLURM job, on `gpu` with one GPU. Its first
    attempt fails on the flaky tile, so the bundle is resubmitted whole, with twice the memory; one
    tile server, started by the bundle's Snakemake, segments every occupied tile of the retry. The
    labels equal the local run's."""
    todo, _, local_config = runs
    run = todo["bundled"]
    assert run.rc == 0, run.tail()
    kind = {job: path.parts[0] for job, path in run.logs.items()}
    assert "rule_stage" not in kind.values(), kind
    bundles = sorted((job for job, k in kind.items() if k == "group_stage_stage"), key=int)
    rows = [run.jobs[job] for job in bundles]
    assert [r["State"] for r in rows] == ["FAILED", "COMPLETED"], rows
    assert [r["ReqMem"] for r in rows] == ["4000M", "8000M"], rows
    assert all(r["Partition"] == "gpu" and "gres/gpu=1" in r["AllocTRES"] for r in rows), rows
    logs = Path(run.config["workdir"]) / "nuclei" / "logs" / "stage"
    occupied = occupied_tiles(run, 4)
    servers = {tile: SERVED.findall((logs / f"{tile}.log").read_text()) for tile in occupied}
    assert occupied and all(len(pids) == 1 for pids in servers.values()), servers
    assert len({pids[0] for pids in servers.values()}) == 1, f"more than one server: {servers}"
    ours = zarr.open_group(str(run.labels), mode="r")
    ref = zarr.open_group(str(Path(local_config["input"]["store"]) / "labels" / "nuclei"), mode="r")
    assert sorted(ours.array_keys()) == sorted(ref.array_keys())
    for level in ref.array_keys():
        assert np.array_equal(ours[level][...], ref[level][...]), f"level {level} differs"


def test_threshold_method_all_jobs_on_cpu_partition(runs) -> None:
    """Threshold method (no GPU): every job, stage included, ran on `cpu` without a GPU."""
    todo, _, _ = runs
    check_jobs(todo["cpu"], n_tiles=2, gpu=False)


def wait_for_line(path: Path, pattern: re.Pattern, deadline: float) -> None:
    while not pattern.search(path.read_text() if path.exists() else ""):
        assert time.monotonic() < deadline, f"no {pattern.pattern!r}:\n" + path.read_text()[-3000:]
        time.sleep(0.5)


def test_killed_run_resumes_with_only_unfinished_jobs(runs, tmp_path: Path) -> None:
    """kill -9 of Snakemake once a stage job has finished (its SLURM jobs keep going), then the
    README's recovery: cancel the run's jobs, --unlock, the same command. Only jobs the killed run
    had not finished run again, and the labels equal the uninterrupted run's bit for bit."""
    todo, _, _ = runs
    reference = todo["cpu"]
    assert reference.rc == 0, reference.tail()
    config, cfg = write_config(tmp_path, "killed", THRESHOLD_METHOD, CPU_TILING)
    killed = Run("killed", config, cfg, tmp_path / "killed.out")
    command = [*SNAKEMAKE, *SLURM_RUN, "--configfile", str(cfg)]
    with killed.out.open("w") as out:
        killed.proc = subprocess.Popen(command, cwd=RUN_DIR, env=ENV, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_line(killed.out, re.compile(r"^Finished jobid: \d+ \(Rule: stage\)", re.M),
                      time.monotonic() + RUN_TIMEOUT)
        time.sleep(random.Random(3).uniform(0, 10))
    finally:
        killed.proc.kill()  # SIGKILL: no cleanup by Snakemake; its SLURM jobs run on
        killed.rc = killed.proc.wait()
    collect(killed)
    finished = jobs_finished(killed.text)
    started = set(started_jobs(killed.text).values())
    assert killed.run_id and "cc" not in finished, killed.tail()

    # the recovery, as the README says
    left = sh("squeue", "-h", "--name", killed.run_id, "-o", "%i").stdout.split()
    if left:
        sh("scancel", *left)
    unlock = sh(*command, "--unlock", timeout=120)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    resumed = Run("resumed", config, cfg, tmp_path / "resumed.out")
    with resumed.out.open("w") as out:
        resumed.proc = subprocess.Popen(["timeout", "-s", "KILL", str(RUN_TIMEOUT), *command], cwd=RUN_DIR,
                                        env=ENV, stdout=out, stderr=subprocess.STDOUT)
    try:
        resumed.rc = resumed.proc.wait(timeout=RUN_TIMEOUT + 60)
        collect(resumed)
    finally:
        cleanup(resumed)
    assert resumed.rc == 0, resumed.tail()
    every = jobs_run(reference.text)
    again = jobs_run(resumed.text)
    assert started <= every and again <= every, (started - every, again - every)
    assert not again & finished, f"finished jobs ran again: {sorted(again & finished)}"
    assert every - started <= again, f"jobs never started did not run: {sorted(every - started - again)}"
    assert all(row["State"] == "COMPLETED" for row in resumed.jobs.values()), resumed.jobs
    ours = zarr.open_group(str(resumed.labels), mode="r")
    ref = zarr.open_group(str(reference.labels), mode="r")
    assert sorted(ours.array_keys()) == sorted(ref.array_keys())
    for level in ref.array_keys():
        assert np.array_equal(ours[level][...], ref[level][...]), f"level {level} differs"


def test_a_sheet_of_two_images_runs_on_slurm(runs) -> None:
    """A sheet of two images through ``--profile slurm``: every cluster job's own Snakemake plans its
    image from the images the submit host recorded; every SLURM job completed on ``cpu``; each image's
    labels equal whole-image labelling above its own Otsu threshold."""
    todo, _, _ = runs
    run = todo["sheet"]
    assert run.rc == 0, run.tail()
    assert run.logs and all(row["State"] == "COMPLETED" and row["Partition"] == "cpu"
                            for row in run.jobs.values()), run.jobs
    # rule_stage/<image>_<tile>/<SLURM job id>.log: the wildcards' values
    staged = {path.parts[1].rsplit("_", 1)[0] for path in run.logs.values() if path.parts[0] == "rule_stage"}
    assert staged == set(SHEET_IMAGES), run.logs  # both images' jobs ran as SLURM jobs
    folder = Path(run.config["workdir"]).parent
    for name in SHEET_IMAGES:
        store = folder / f"{name}.ome.zarr"
        data = zarr.open_array(str(store / "0"), mode="r")[...]
        work = Path(run.config["workdir"]) / "cells" / "images" / name
        value = json.loads((work / "threshold.json").read_text())["value"]
        ours = zarr.open_array(str(store / "labels" / "cells" / "0"), mode="r")[...]
        ref = ndimage.label(data > value)[0]
        assert np.array_equal(ours > 0, ref > 0) and ours.max() == ref.max(), name
        pairs = np.unique(np.stack([ref[ref > 0], ours[ref > 0]]), axis=1)
        assert pairs.shape[1] == ref.max(), name  # one to one, up to renumbering
    rows = (Path(run.config["workdir"]) / "cells" / "images.tsv").read_text().splitlines()
    assert [row.split("\t")[0] for row in rows[1:]] == list(SHEET_IMAGES), rows
