"""A failing method: other tiles finish, the user sees one summary of what failed (tile, error,
log) and a status table; after the cause is fixed, the same command reruns only the failed tile
and what depends on it, and the labels equal the whole-image labelling."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from runs import RUN_DIR
from scipy import ndimage
from snakelog import jobs_run

from patchworks.io.images import write_image
from patchworks.pipeline.config import validate_config
from patchworks.pipeline.plan import Plan

FAILING_METHOD = '''
from pathlib import Path

from scipy import ndimage


def segment(tile, flag):
    if tile.max() >= 900 and Path(flag).exists():  # a "strange tile" the method cannot handle
        raise RuntimeError("cannot segment this tile")
    return ndimage.label(tile > 100)[0]
'''
FAILED_TILE = 5  # of 2 x 3 tiles of 20 x 20: the only one holding values >= 900


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory):
    """keep-going and one retry; the method fails on one tile (while the flag file exists)."""
    tmp = tmp_path_factory.mktemp("failing")
    image = np.zeros((40, 60), dtype=np.uint16)
    image[5:15, 5:15] = 500
    image[18:23, 10:50] = 300  # crosses tiles 0|3, 1|4 and 0|1|...: merged across seams
    image[25:35, 45:55] = 950
    write_image(tmp / "img.ome.zarr", image, "yx")
    (tmp / "failing_method.py").write_text(FAILING_METHOD)
    flag = tmp / "broken"
    flag.touch()
    config = {
        "input": {"store": str(tmp / "img.ome.zarr")},
        "workdir": str(tmp / "work"),
        "tiling": {"tile_shape": 20},
        "method": {"name": "custom", "custom": {"function": "failing_method:segment",
                                                 "kwargs": {"flag": str(flag)}}},
    }
    cfg = tmp / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    env = {"PYTHONPATH": str(tmp), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--keep-going", "--retries", "1",
               "--configfile", str(cfg)]
    run = subprocess.run(command, cwd=RUN_DIR, capture_output=True, text=True, env=env)
    return tmp, cfg, config, image, env, command, run


def test_failed_tile_summary_names_tile_error_and_log(failed_run) -> None:
    """The run fails after every other tile's stage job ran; its last lines name the tile, the
    exception and the log; the tile was tried twice (one retry)."""
    tmp, *_, run = failed_run
    assert run.returncode != 0
    log = tmp / "work" / "labels" / "logs" / "stage" / f"{FAILED_TILE}.log"
    summary = run.stderr[run.stderr.rindex("patchworks: 1 job(s) failed:"):]
    assert f"stage {FAILED_TILE}: MethodError: tile {FAILED_TILE} (grid index (1, 2)" in summary, summary
    assert "the method raised RuntimeError: cannot segment this tile" in summary
    assert f"log: {log}" in summary
    assert "run the same command again" in summary
    assert len(re.findall(rf"^    wildcards: tile={FAILED_TILE}$", run.stderr, re.M)) == 2  # tried, retried
    done = {p.stem for p in (tmp / "work" / "labels" / "stage").glob("*.json")}
    assert done == {"0", "1", "2", "3", "4"}


def test_status_counts_failed_done_pending(failed_run) -> None:
    """patchworks-status: stage 5 done / 1 failed, the steps after cc pending, exit code 1."""
    _, cfg, _, _, env, _, _ = failed_run
    status = subprocess.run([sys.executable, "-m", "patchworks.pipeline.status", str(cfg)], cwd=RUN_DIR,
                            capture_output=True, text=True, env=env)
    assert status.returncode == 1, status.stderr
    rows = {line.split()[0]: line.split()[1:] for line in status.stdout.splitlines()[1:7]}
    assert rows["stage"] == ["5", "1", "0", "0"]
    assert rows["relabel"] == ["0", "0", "0", "6"]
    assert rows["publish"] == ["0", "0", "0", "1"]
    log = Path(cfg).parent / "work" / "labels" / "logs" / "stage" / f"{FAILED_TILE}.log"
    assert f"failed stage: {log}" in status.stdout
    assert "cannot segment this tile" in log.read_text()


def test_rerun_after_fix_runs_only_failed_tile_and_dependents(failed_run) -> None:
    """With the cause removed, the same command runs the failed tile's stage job, the face jobs
    that read it, and the merge steps after them; nothing else. The labels are exact."""
    tmp, cfg, config, image, env, command, _ = failed_run
    plan = Plan(validate_config(yaml.safe_load(cfg.read_text())))
    faces_done = {p.stem for p in (tmp / "work" / "labels" / "faces").glob("*.npy")}
    (tmp / "broken").unlink()
    run = subprocess.run(command, cwd=RUN_DIR, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    reading = [(t, a) for t, a in plan.grid.faces() if FAILED_TILE in plan.face_tiles(t, a)]
    pairs = {(t, plan.grid.neighbour(t, a)) for t, a in reading}  # a face's job is named by its two tiles
    assert {Path(plan.face_file(t, a)).stem for t, a in plan.grid.faces()} - faces_done == {
        f"{t}-{n}" for t, n in pairs}
    faces = {f"faces[tile={t}, neighbour={n}]" for t, n in pairs}
    tiles = range(plan.grid.n_tiles)
    expected = ({f"stage[tile={FAILED_TILE}]", "cc", "measure", "label_image", "pyramid", "publish",
                 "figures", "all"} | faces | {f"relabel[tile={t}]" for t in tiles})
    assert jobs_run(run.stderr) == expected
    labels = np.asarray(plan.label_image.array(0, mode="r")[...])
    ref, n = ndimage.label(image > 100)
    assert len(np.unique(labels)) - 1 == n == 3
    pairs = set(zip(labels.ravel().tolist(), ref.ravel().tolist()))
    assert len(pairs) == n + 1  # a bijection between objects (and background)
