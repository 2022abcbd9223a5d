"""Job fork server (``patchworks.servers.fork``): jobs forked from a process that has done the
imports, each still a process of its own.

Real workflow runs: the labels (every level) and the object table equal those of the same run with
``PATCHWORKS_FORKSERVER=0``; the jobs' logs name the server, which is gone once its Snakemake is. A
run killed with its process group (kill -9) takes its forked jobs with it, and a server killed
mid-job fails that job with a message naming the server, and the same command then finishes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr
from runs import RUN_DIR, alive, custom_config, make_image, snakemake, succeeded, write_config

SLOW_MODULE = '''
import os
import time

from scipy import ndimage


def segment(tile, value, record, sleep=0):
    """Threshold + scipy label, after noting (pid, parent pid) in ``record`` and sleeping ``sleep`` s."""
    with open(record, "a") as fh:
        fh.write(f"{os.getpid()} {os.getppid()}\\n")
    time.sleep(sleep)
    return ndimage.label(tile > value)[0]
'''
FORKED = re.compile(r"done, peak RSS [\d.]+ MB \(forked by the job fork server pid (\d+)\)")


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("slow")
    (folder / "pw_slow_seg.py").write_text(SLOW_MODULE)
    return folder


def wait_gone(pids: set[int], seconds: float = 10) -> set[int]:
    """The pids still alive after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while (left := {p for p in pids if alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


def exited_cleanly(server: int, work: Path) -> bool:
    """Whether fork server ``server`` is gone and removed its log (in the run's work directory ``work``),
    as it does unless it failed."""
    logs = (work / "logs" / "server").glob("*-fork-*.log")
    return not alive(server) and not any(f"job fork server pid {server}:" in log.read_text() for log in logs)


def levels(store: Path, name: str) -> dict[str, np.ndarray]:
    group = zarr.open_group(str(store / "labels" / name), mode="r")
    return {key: group[key][...] for key in sorted(group.array_keys())}


def test_forked_jobs_equal_jobs_started_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same labels and table with and without the server; the jobs name it; it exits with its run."""
    store = tmp_path / "image.ome.zarr"
    make_image(store, "zyx", (12, 40, 44), seed=5, levels=2)
    results = {}
    for name, switch in (("forked", "1"), ("alone", "0")):
        config = {"input": {"store": str(store)}, "output": {"label_name": name},
                  "workdir": str(tmp_path / f"work-{name}"),
                  "tiling": {"tile_shape": [6, 16, 16], "overlap": 2},
                  "method": {"name": "threshold", "threshold": {"value": 300}}, "connectivity": 3}
        cfg = write_config(tmp_path, config, f"{name}.yaml")
        monkeypatch.setenv("PATCHWORKS_FORKSERVER", switch)
        succeeded(snakemake(cfg))
        logs = list((tmp_path / f"work-{name}" / name / "logs").rglob("*.log"))
        servers = [int(m.group(1)) for log in logs if (m := FORKED.search(log.read_text()))]
        results[name] = (levels(store, name), pd.read_parquet(store / "labels" / name / "objects.parquet"),
                         servers, len(logs))
    forked, alone = results["forked"], results["alone"]
    assert forked[0].keys() == alone[0].keys() == {"0", "1"}
    for key in forked[0]:
        assert np.array_equal(forked[0][key], alone[0][key]), f"level {key} differs"
    assert forked[0]["0"].max() > 5
    pd.testing.assert_frame_equal(forked[1], alone[1])
    assert alone[2] == []  # switched off: no job forked
    n_jobs = forked[3]  # 2 x 3 x 3 tiles: 18 stage, 33 faces and 18 relabel jobs among them
    assert len(forked[2]) >= n_jobs - 4, f"only {len(forked[2])} of {n_jobs} jobs were forked"
    assert len(set(forked[2])) == 1  # one server for the run
    assert not wait_gone(set(forked[2]), 5), "the fork server outlived its Snakemake"
    assert exited_cleanly(forked[2][0], tmp_path / "work-forked" / "forked")


def slow_config(tmp_path: Path, name: str, sleep: float) -> tuple[Path, Path]:
    store = tmp_path / "image.ome.zarr"
    if not store.exists():
        make_image(store, "yx", (32, 64), seed=2)
    record = tmp_path / f"{name}.pids"
    config = custom_config(store, tmp_path / f"work-{name}", {"value": 600, "record": str(record),
                                                              "sleep": sleep}, [16, 16])
    config["method"]["custom"]["function"] = "pw_slow_seg:segment"
    return write_config(tmp_path, config, f"{name}.yaml"), record


def wait_for_forked(proc: subprocess.Popen, record: Path, n: int) -> list[tuple[int, int]]:
    """(pid, parent pid) of the first ``n`` stage jobs that the server forked."""
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None and time.monotonic() < deadline, "no stage job was forked"
        lines = record.read_text().splitlines() if record.exists() else []
        rows = [tuple(map(int, line.split())) for line in lines]
        forked = [(pid, parent) for pid, parent in rows if Path(f"/proc/{parent}/cmdline").exists()
                  and b"patchworks.servers.fork" in Path(f"/proc/{parent}/cmdline").read_bytes()]
        if len(forked) >= n:
            return forked
        time.sleep(0.1)


def start(cfg: Path, slow: Path) -> subprocess.Popen:
    path = os.pathsep.join(filter(None, [str(slow), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", str(cfg)],
                            cwd=RUN_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def test_run_killed_with_its_process_group_takes_its_forked_jobs(tmp_path: Path, slow: Path) -> None:
    """kill -9 of the run's process group: the forked jobs (not in that group) die with their jobs, then
    the server exits. (With its Snakemake gone, the server lets running jobs finish: only their jobs'
    closed connections end these 60 s tiles within seconds.)"""
    cfg, record = slow_config(tmp_path, "killed", sleep=60)
    proc = start(cfg, slow)
    try:
        jobs = wait_for_forked(proc, record, 1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    pids, servers = {pid for pid, _ in jobs}, {parent for _, parent in jobs}
    assert not wait_gone(pids), "a forked job outlived its killed job process"
    assert not wait_gone(servers), "the fork server outlived its Snakemake"
    assert all(exited_cleanly(s, tmp_path / "work-killed" / "custom") for s in servers)


def test_server_killed_mid_job_fails_the_job_and_the_same_command_finishes(tmp_path: Path,
                                                                            slow: Path) -> None:
    """The job's forked process dies with its server; the job fails naming it; a rerun finishes."""
    cfg, record = slow_config(tmp_path, "server-killed", sleep=3)
    proc = start(cfg, slow)
    jobs = wait_for_forked(proc, record, 1)
    os.kill(jobs[0][1], signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode != 0
    assert f"the job fork server (pid {jobs[0][1]}) died while it ran this job" in out, out[-4000:]
    assert not wait_gone({jobs[0][0]}), "the job outlived its fork server"
    record.unlink()
    again = snakemake(cfg, pythonpath=slow)  # nothing of the killed server to clean up: its socket is gone
    succeeded(again)
    labels = zarr.open_group(str(tmp_path / "image.ome.zarr" / "labels" / "custom"), mode="r")["0"][...]
    assert labels.max() > 0
