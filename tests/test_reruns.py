"""What a rerun recomputes after a config change: only the steps the change affects."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from runs import RUN_DIR

from patchworks.io.images import write_image

ALL_AFTER_CC = {"cc", "measure", "label_image", "pyramid", "relabel", "publish", "figures", "all"}
ALL_AFTER_STAGE = {"stage", "faces"} | ALL_AFTER_CC


def snakemake(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", str(cfg), *args]
    return subprocess.run(command, cwd=RUN_DIR, capture_output=True, text=True)


def planned_rules(cfg: Path, *args: str) -> set[str]:
    """Rules a dry run would run (from its job stats table)."""
    run = snakemake(cfg, "-n", *args)
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout + run.stderr
    if "Nothing to be done" in out:
        return set()
    table = out.split("Job stats:")[1].split("total")[0]
    return set(re.findall(r"^(\w+)\s+\d+\s*$", table, flags=re.M))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A completed run on a small 2-level image (2 x 2 tiles)."""
    tmp = tmp_path_factory.mktemp("reruns")
    rng = np.random.default_rng(1)
    write_image(tmp / "img.ome.zarr", (rng.random((40, 48)) * 1000).astype(np.uint16), "yx", levels=2)
    config = {
        "input": {"store": str(tmp / "img.ome.zarr")},
        "workdir": str(tmp / "work"),
        "tiling": {"tile_shape": [20, 24]},
        "method": {"name": "threshold", "threshold": {"value": 700}},
        "pyramid": {"method": "mode"},
    }
    cfg = tmp / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    run = snakemake(cfg)
    assert run.returncode == 0, run.stderr[-2000:]
    return cfg, config


def variant(finished_run: tuple[Path, dict], name: str, change: dict | None, comment: bool = False) -> Path:
    cfg, config = finished_run
    new = yaml.safe_load(yaml.safe_dump(config))
    for key, value in (change or {}).items():
        if isinstance(value, dict):
            for sub, v in value.items():
                new.setdefault(key, {})[sub] = {**new[key].get(sub, {}), **v} if isinstance(v, dict) else v
        else:
            new[key] = value
    path = cfg.with_name(f"{name}.yaml")
    path.write_text(("# an edited comment\n" if comment else "") + yaml.safe_dump(new))
    return path


@pytest.mark.parametrize(("name", "change", "expected"), [
    ("comment", None, set()),
    ("pyramid-method", {"pyramid": {"method": "nearest"}},
     {"pyramid", "relabel", "publish", "figures", "all"}),
    ("size-filter", {"filter": {"min_volume": 3.0}}, ALL_AFTER_CC),
    ("threshold", {"method": {"threshold": {"value": 650}}}, ALL_AFTER_STAGE),
    ("overlap", {"tiling": {"overlap": 2}}, ALL_AFTER_STAGE),
    ("connectivity", {"connectivity": 2}, ALL_AFTER_STAGE),
    ("output-dtype", {"output": {"dtype": "uint16"}}, ALL_AFTER_CC),
    ("overwrite-flag", {"output": {"overwrite": True}}, set()),
    ("tile-server", {"method": {"cellpose": {"server": False}, "custom": {"server": True}}}, set()),
    ("memory-budget", {"tiling": {"memory_mb": 1234}}, set()),
])
def test_config_change_reruns_only_what_it_affects(finished_run: tuple[Path, dict], name: str,
                                                    change: dict | None, expected: set[str]) -> None:
    """A dry run after the change lists exactly the steps that depend on the changed keys."""
    assert planned_rules(variant(finished_run, name, change, comment=name == "comment")) == expected


def test_profile_change_reruns_nothing(finished_run: tuple[Path, dict]) -> None:
    """Other resources (as a different profile would set) rerun nothing."""
    cfg, _ = finished_run
    assert planned_rules(cfg, "--set-resources", "stage:mem_mb=123", "--set-threads", "cc=2") == set()


def test_key_order_reruns_nothing(finished_run: tuple[Path, dict]) -> None:
    """The same config with every mapping's keys in reverse order (params compare as text)."""
    cfg, config = finished_run

    def reverse(value):
        return {k: reverse(v) for k, v in reversed(value.items())} if isinstance(value, dict) else value

    path = cfg.with_name("reversed.yaml")
    path.write_text(yaml.safe_dump(reverse(config), sort_keys=False))
    assert planned_rules(path) == set()
