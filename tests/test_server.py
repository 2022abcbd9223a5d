"""Tile servers (``method.<name>.server``): a stage job hands its tile to a long-lived process.

Real workflow runs with a custom method whose module notes the process that loaded it and each
tile it segmented. Served: one load per server, at most one server per concurrent job (``--cores
2``), the servers stopped when the run ends; the labels equal those of the same run unserved, and
switching ``server`` off reruns nothing. A server killed mid-tile fails that job, naming the tile
and the server's log, and the same command then finishes the run with a new server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
import zarr
from runs import RUN_DIR, alive, custom_config, make_image, snakemake, succeeded, write_config
from scipy import ndimage

SERVED_MODULE = '''
import os
import signal
import time

from scipy import ndimage

LOADED_BY = os.getpid()


def segment(tile, value, record, kill_marker=None, sleep=0):
    """Threshold + scipy label; notes (loading pid, pid) in ``record``. With ``kill_marker``: the
    run's first call kills its own process (SIGKILL), as the out-of-memory killer would."""
    with open(record, "a") as fh:
        fh.write(f"{LOADED_BY} {os.getpid()}\\n")
    time.sleep(sleep)
    if kill_marker is not None:
        try:
            os.close(os.open(kill_marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            os.kill(os.getpid(), signal.SIGKILL)
        except FileExistsError:
            pass
    labels, _ = ndimage.label(tile > value)
    return labels
'''


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("served")
    (folder / "pw_served_seg.py").write_text(SERVED_MODULE)
    return folder


def config_for(tmp: Path, store: Path, name: str, server: bool, **kwargs) -> tuple[Path, dict]:
    config = custom_config(store, tmp / f"work-{name}", {"value": 600, "record": str(tmp / f"{name}.pids"),
                                                         **kwargs}, [16, 16])
    config["method"]["custom"].update(function="pw_served_seg:segment", server=server)
    return write_config(tmp, config, f"{name}.yaml"), config


def calls(record: Path) -> list[tuple[int, int]]:
    return [tuple(map(int, line.split())) for line in record.read_text().splitlines()]


def labels(store: Path) -> np.ndarray:
    return zarr.open_group(str(store / "labels" / "custom"), mode="r")["0"][...]


def test_served_jobs_load_once_per_server_and_match_unserved(tmp_path: Path, served: Path) -> None:
    tiles = 9  # 3 x 3
    stores = {}
    for server in (True, False):
        name = "served" if server else "unserved"
        stores[name] = tmp_path / f"{name}.ome.zarr"
        make_image(stores[name], "yx", (48, 48), seed=11)
        cfg, config = config_for(tmp_path, stores[name], name, server)
        succeeded(snakemake(cfg, pythonpath=served))
        seen = calls(tmp_path / f"{name}.pids")
        assert len(seen) == tiles
        logs = [p.read_text() for p in (tmp_path / f"work-{name}/custom/logs/stage").glob("*.log")]
        assert len(logs) == tiles and all(("in tile server pid" in log) == server for log in logs)
        if not server:
            assert len({pid for _, pid in seen}) == tiles  # a process (and a load) per tile
            continue
        servers = {pid for _, pid in seen}
        assert all(loader == pid for loader, pid in seen)  # the module loaded in the server itself
        assert 1 <= len(servers) <= 2, seen  # one per concurrent job (--cores 2), not one per tile
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in servers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(pid) for pid in servers), "servers left running after the run"
        config["method"]["custom"]["server"] = False  # where tiles run changes no result
        cfg.write_text(yaml.safe_dump(config))
        dry = snakemake(cfg, "-n", pythonpath=served)
        succeeded(dry)
        assert "Nothing to be done" in dry.stdout, dry.stdout[-3000:]
    assert np.array_equal(labels(stores["served"]), labels(stores["unserved"]))
    assert labels(stores["served"]).max() > 3


def test_killed_server_fails_its_tile_and_the_same_command_finishes(tmp_path: Path, served: Path) -> None:
    store = tmp_path / "image.ome.zarr"
    make_image(store, "yx", (32, 32), seed=8)
    cfg, config = config_for(tmp_path, store, "killed", True, kill_marker=str(tmp_path / "killed.once"))
    first = snakemake(cfg, pythonpath=served)
    assert first.returncode != 0
    found = re.search(r"the tile server \(pid (\d+)\) died while segmenting tile (\d+) \(killed\? out of "
                      r"memory\?\); its log: (\S+)\.", first.stdout)
    assert found, first.stdout[-4000:]
    assert not alive(int(found.group(1)))
    assert Path(found.group(3)).exists()
    assert "patchworks: 1 job(s) failed:" in first.stdout
    stage = tmp_path / "work-killed" / "custom" / "stage"
    done = {int(p.stem) for p in stage.glob("*.json")}
    assert int(found.group(2)) not in done
    second = snakemake(cfg, pythonpath=served)  # the dead server's socket is still there: replaced
    succeeded(second)
    rerun = {int(t) for t in re.findall(r"rule stage:\n(?: .*\n)*? +wildcards: tile=(\d+)\n", second.stdout)}
    assert rerun == set(range(4)) - done, (rerun, done)
    image = zarr.open_group(str(store), mode="r")["0"][...]
    ref, n = ndimage.label(image > 600)  # the whole image at once
    got = labels(store)
    pairs = np.unique(np.stack([got.ravel(), ref.ravel()]), axis=1)  # equal up to renumbering
    assert n > 3 and np.array_equal(got == 0, ref == 0) and pairs.shape[1] == n + 1
    assert len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == n + 1


def test_servers_exit_when_their_snakemake_is_killed(tmp_path: Path, served: Path) -> None:
    """kill -9 of Snakemake (no onerror): its servers go within seconds, not after the idle time."""
    store = tmp_path / "image.ome.zarr"
    make_image(store, "yx", (32, 64), seed=2)
    cfg, _ = config_for(tmp_path, store, "orphaned", True, sleep=2)
    env = {**os.environ, "PYTHONPATH": f"{served}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", str(cfg)],
                            cwd=RUN_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    record, deadline = tmp_path / "orphaned.pids", time.monotonic() + 120
    try:
        while not (record.exists() and record.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, "no tile reached a server"
            time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
    servers = {pid for _, pid in calls(record)}
    folder = tmp_path / "work-orphaned" / "custom" / "logs" / "server"

    def exited() -> bool:  # every server, those still starting when Snakemake died too, said so
        logs = list(folder.glob("*.log"))
        return bool(logs) and all("is gone, exiting" in log.read_text() for log in logs)

    deadline = time.monotonic() + 15  # a tile's 2 s, then the server's next check (every second)
    while (any(alive(pid) for pid in servers) or not exited()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in servers), "a server outlived its Snakemake"
    assert exited(), [p.read_text() for p in folder.glob("*.log")]


CHANGING_MODULE = '''
import os
import time

from scipy import ndimage


def segment(tile, value, record, sleep):
    """Threshold at value + 100 x the calls before this one (each call's labels its own), after
    ``sleep`` s; notes the call's start and end in ``record``."""
    with open(record, "a") as fh:
        offset = 100 * open(record).read().count("start")
        fh.write(f"{os.getpid()} {offset} start {time.time()}\\n")
    time.sleep(sleep)
    labels = ndimage.label(tile > value + offset)[0]
    with open(record, "a") as fh:
        fh.write(f"{os.getpid()} {offset} end {time.time()}\\n")
    return labels
'''


def test_killed_runs_tile_is_never_written_after_the_reruns(tmp_path: Path) -> None:
    """kill -9 of Snakemake alone while a served tile sleeps, then the documented rerun at once: the
    killed run's job and server finish that tile before the rerun's job segments it (the tile's writer
    lock), so the labels, the partial measurements (the object table) and the record of the tile come
    from the rerun's call, whose labels differ from the first's."""
    (tmp_path / "pw_changing_seg.py").write_text(CHANGING_MODULE)
    store, record = tmp_path / "image.ome.zarr", tmp_path / "calls.txt"
    image = make_image(store, "yx", (24, 24), seed=6)
    # the first call sleeps longer than --unlock and the rerun take to reach the tile (a loaded machine
    # once took more than 6 s)
    kwargs = {"value": 300, "record": str(record), "sleep": 15}
    config = custom_config(store, tmp_path / "work", kwargs, [24, 24])
    config["method"]["custom"].update(function="pw_changing_seg:segment", server=True)
    cfg = write_config(tmp_path, config)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", str(cfg)],
                            cwd=RUN_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (record.exists() and record.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, "the tile never reached its server"
        time.sleep(0.05)
    proc.kill()  # Snakemake alone: its job, and the job's server, live on
    proc.wait()
    succeeded(snakemake(cfg, "--unlock", pythonpath=tmp_path))
    succeeded(snakemake(cfg, "--rerun-incomplete", pythonpath=tmp_path))
    calls = [line.split() for line in record.read_text().splitlines()]
    assert [(offset, event) for _, offset, event, _ in calls] == [
        ("0", "start"), ("0", "end"), ("100", "start"), ("100", "end")], calls
    assert float(calls[1][3]) < float(calls[2][3])  # the killed run's call ended before the rerun's began
    assert calls[0][0] != calls[2][0]  # two servers: the killed run's, then the rerun's
    log = (tmp_path / "work" / "custom" / "logs" / "stage" / "0.log").read_text()
    assert "waiting for another writer of tile 0" in log and "in tile server pid" in log, log
    got = labels(store)
    ref, n = ndimage.label(image > 400)  # the rerun's call
    pairs = np.unique(np.stack([got.ravel(), ref.ravel()]), axis=1)
    assert n > 1 and pairs.shape[1] == n + 1 and len(np.unique(pairs[0])) == n + 1
    assert n != ndimage.label(image > 300)[1]  # and not the first call's
    table = pd.read_parquet(store / "labels" / "custom" / "objects.parquet")
    assert np.array_equal(table["voxels"].to_numpy(), np.bincount(got.ravel())[1:])
    work = tmp_path / "work" / "custom"
    stage = zarr.open_array(str(work / "stage.zarr"), mode="r")[...]
    assert json.loads((work / "stage" / "0.json").read_text())["count"] == stage.max() == n
