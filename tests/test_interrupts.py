"""kill -9 at random points, then the documented recovery: only unfinished jobs rerun, and the
labels equal those of an uninterrupted run bit for bit.

Each case starts the workflow, waits until the first job of one step has started, waits a random
(seeded) time more, and kills Snakemake and every job process it started with SIGKILL (a node
failure, or kill -9 of the process group). Recovery as the README says: ``snakemake --unlock``,
then the same command with ``--rerun-incomplete``.
"""

import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr
from runs import RUN_DIR
from scipy import ndimage
from snakelog import jobs_finished, jobs_run, started_jobs

from patchworks.io.images import write_image

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--cores", "2"]
KILL_TIMEOUT = 300  # seconds: a run that never reaches its step fails the test instead of hanging


def make_case(tmp: Path) -> tuple[Path, dict]:
    """A 2-level 3-D image cut into 2 x 2 x 2 tiles, objects crossing every kind of seam."""
    rng = np.random.default_rng(7)
    image = ndimage.gaussian_filter(rng.random((16, 24, 28)), 1.5)
    image = ((image - image.min()) / np.ptp(image) * 1000).astype(np.uint16)
    write_image(tmp / "img.ome.zarr", image, "zyx", levels=2)
    config = {
        "input": {"store": str(tmp / "img.ome.zarr")},
        "workdir": str(tmp / "work"),
        "tiling": {"tile_shape": [8, 12, 14], "overlap": 4},
        "method": {"name": "threshold", "threshold": {"value": "otsu", "smooth_sigma": 1}},
        "connectivity": 3,
    }
    cfg = tmp / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    return cfg, config


def levels(store: Path) -> dict[str, np.ndarray]:
    group = zarr.open_group(str(store / "labels" / "labels"), mode="r")
    return {key: group[key][...] for key in sorted(group.array_keys())}


def listed(store: Path) -> list[str]:
    if not (store / "labels").exists():
        return []
    attrs = zarr.open_group(str(store / "labels"), mode="r").attrs.asdict()
    return attrs.get("ome", attrs).get("labels", [])


def kill_during(cfg: Path, step: str, delay: float) -> str:
    """Run the workflow; SIGKILL its whole process group ``delay`` s after a ``step`` job starts."""
    proc = subprocess.Popen([*SNAKEMAKE, "--configfile", str(cfg)], cwd=RUN_DIR, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)
            if line.removeprefix("local").startswith(f"rule {step}:"):
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert started.wait(KILL_TIMEOUT), f"no {step} job started:\n" + "".join(lines[-40:])
        threading.Event().wait(delay)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(10)
    return "".join(lines)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, np.ndarray], set[str]]:
    """The labels of an uninterrupted run, and the set of its jobs."""
    cfg, config = make_case(tmp_path_factory.mktemp("uninterrupted"))
    run = subprocess.run([*SNAKEMAKE, "--configfile", str(cfg)], cwd=RUN_DIR, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    return levels(Path(config["input"]["store"])), jobs_run(run.stderr)


# faces: per-tile jobs between stage and cc, as stage is; pyramid: the one job creating the levels
@pytest.mark.parametrize(("step", "seed"), [("stage", 1), ("cc", 3), ("relabel", 4), ("pyramid", 5)])
def test_kill_then_rerun_recomputes_only_unfinished_jobs(tmp_path: Path, reference, step: str,
                                                         seed: int) -> None:
    ref_levels, all_jobs = reference
    cfg, config = make_case(tmp_path)
    store = Path(config["input"]["store"])
    killed = kill_during(cfg, step, random.Random(seed).uniform(0, 1.5))
    finished = jobs_finished(killed)
    started = set(started_jobs(killed).values())
    assert started <= all_jobs and finished <= started
    if "publish" not in finished:  # an interrupted run never looks complete
        assert "labels" not in listed(store)

    unlock = subprocess.run([*SNAKEMAKE, "--unlock", "--configfile", str(cfg)], cwd=RUN_DIR,
                            capture_output=True, text=True)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    rerun = subprocess.run([*SNAKEMAKE, "--rerun-incomplete", "--configfile", str(cfg)], cwd=RUN_DIR,
                           capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]

    again = jobs_run(rerun.stderr)
    assert not again & finished, f"finished jobs rerun: {sorted(again & finished)}"
    assert all_jobs - started <= again, f"jobs not started were not run: {sorted(all_jobs - started - again)}"
    assert again <= all_jobs - finished  # only the jobs running at the kill may go either way
    out = levels(store)
    assert out.keys() == ref_levels.keys()
    for key, data in ref_levels.items():
        assert np.array_equal(out[key], data), f"level {key} differs from the uninterrupted run"
    assert listed(store) == ["labels"]
