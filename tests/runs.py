"""Shared helpers of the end-to-end tests: images on disk, config files and ``snakemake`` runs."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
import zarr
from scipy import ndimage

from patchworks.io.images import write_image

REPO = Path(__file__).resolve().parents[1]


def linked_repo(box: Path) -> Path:
    """``box`` holding links to the repository's files, not its ``.snakemake/`` or default outputs:
    Snakemake runs started there share no lock files or metadata with runs started elsewhere, whose
    concurrent lock files race (``FileNotFoundError: .snakemake/locks/0.input.lock``)."""
    box.mkdir(parents=True, exist_ok=True)
    for entry in REPO.iterdir():
        if entry.name not in {".snakemake", "patchworks-work"} and not (box / entry.name).is_symlink():
            (box / entry.name).symlink_to(entry)
    return box


def run_dir() -> Path:
    """Where the tests run Snakemake: the repository, or a linked copy of it per pytest-xdist worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return REPO
    session = os.environ["PYTEST_XDIST_TESTRUNUID"][:12]
    return linked_repo(Path(tempfile.gettempdir()) / f"patchworks-{session}" / worker)


RUN_DIR = run_dir()
UNIT = "micrometer"
JOB_LINE = re.compile(r"^\s*(?:local)?rule \w+:\s*$", re.M)

CUSTOM_MODULE = '''
import numpy as np
from scipy import ndimage


def segment(tile, value, connectivity=1, mode="ok"):
    structure = ndimage.generate_binary_structure(tile.ndim, connectivity)
    labels, _ = ndimage.label(tile > value, structure=structure)
    if mode == "float":
        return labels.astype(np.float64)
    if mode == "shape":
        return labels[..., :-1]
    if mode == "negative":
        return -labels.astype(np.int32)
    if mode == "ndim":
        return labels[None]
    if mode == "raise":
        raise ValueError("model weights not found")
    return labels
'''


def blobs(shape: tuple[int, ...], seed: int, top: int = 1000, dtype: str = "uint16") -> np.ndarray:
    """Smoothed noise: many spots of all sizes, some touching only at edges or corners."""
    img = ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), 1.0)
    img = ((img - img.min()) / (img.max() - img.min())) ** 4  # sparse bright spots: Otsu separates them
    return (img * top).astype(dtype)


def make_image(path: Path, axes: str, spatial: tuple[int, ...], channels: int = 1, *, seed: int = 0,
               version: str = "0.5", scale: tuple[float, ...] | None = None, levels: int = 1,
               dtype: str = "uint16") -> np.ndarray:
    """Write an OME-Zarr image (chunks smaller than the tiles) and return its full data."""
    top = 250 if dtype == "uint8" else 1000
    if "c" in axes:
        data = np.stack([blobs(spatial, seed + 100 * c, top, dtype) for c in range(channels)])
    else:
        data = blobs(spatial, seed, top, dtype)
    write_image(path, data, axes, scale=scale, unit=UNIT, version=version, levels=levels,
                chunks=tuple(1 if a == "c" else 7 for a in axes))
    return data


def metadata_only_image(path: Path, shape: tuple[int, ...], chunks: tuple[int, ...]) -> None:
    """An NGFF 0.5 image (axes z/y/x or y/x, one level) whose array has no chunks written: a plan of
    any size, for runs that read metadata only (dry runs)."""
    names = "zyx"[-len(shape):]
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    group.create_array("0", shape=shape, chunks=chunks, dtype="uint16", dimension_names=list(names))
    axes = [{"name": n, "type": "space", "unit": UNIT} for n in names]
    scale = [{"type": "scale", "scale": [1.0] * len(shape)}]
    group.attrs.put({"ome": {"version": "0.5", "multiscales": [
        {"axes": axes, "datasets": [{"path": "0", "coordinateTransformations": scale}]}]}})


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def write_config(tmp_path: Path, config: dict[str, Any], name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(config: Path, *args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    """Run the workflow from the repository root; stdout and stderr together in ``.stdout``."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", str(config), *args],
        cwd=RUN_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600,
    )


def succeeded(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stdout[-6000:]


def ngff(attrs: dict[str, Any], version: str) -> dict[str, Any]:
    if version == "0.5":
        assert attrs["ome"]["version"] == "0.5"
        return attrs["ome"]
    return attrs


def tree_digest(path: Path) -> dict[str, str]:
    """Every file under ``path`` with a hash of its bytes."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def assert_only_reserved(store: Path, before: dict[str, str], name: str, version: str = "0.5") -> None:
    """The store's own files are byte-identical to ``before``; all that a failed run added is the
    reservation of label ``name`` that ``prepare`` takes: an unlisted, empty label group holding only
    our record, marked not complete."""
    after = tree_digest(store)
    assert {k: after.get(k) for k in before} == before
    meta = ("zarr.json",) if version == "0.5" else (".zgroup", ".zattrs")
    allowed = {f"labels/{m}" for m in meta} | {f"labels/{name}/{m}" for m in meta}
    assert set(after) - set(before) <= allowed, sorted(set(after) - set(before))
    group = zarr.open_group(str(store / "labels" / name), mode="r")
    assert list(group.keys()) == []
    assert group.attrs.asdict() == {"patchworks": {"workdir": group.attrs["patchworks"]["workdir"],
                                                   "complete": False}}
    assert name not in listed_labels(store, version)


def listed_labels(store: Path, version: str) -> list[str]:
    path = store / "labels"
    if not path.exists():
        return []
    return ngff(zarr.open_group(str(path), mode="r").attrs.asdict(), version).get("labels", [])


def custom_config(store: Path, workdir: Path, kwargs: dict[str, Any], tile: list[int]) -> dict[str, Any]:
    return {
        "input": {"store": str(store)},
        "output": {"label_name": "custom"},
        "workdir": str(workdir),
        "tiling": {"tile_shape": tile, "overlap": 2},
        "method": {"name": "custom", "custom": {"function": "pw_custom_seg:segment", "kwargs": kwargs}},
        "connectivity": kwargs.get("connectivity", 1),
    }


@dataclass(frozen=True)
class FinishedRun:
    """A finished workflow run (its report built too): a 2-channel c/y/x NGFF 0.5 image with 2 levels, 3 x 3
    tiles, a size filter."""

    root: Path
    store: Path
    config: Path
    workdir: Path
    data: np.ndarray  # c, y, x
    channel: int
    value: float
    scale: tuple[float, float]  # y, x
    tile: tuple[int, int]
    filter: dict[str, float]

    @property
    def image(self) -> np.ndarray:
        return self.data[self.channel]

    @property
    def labels(self) -> Path:
        return self.store / "labels" / "cells"


def finished_run(root: Path) -> FinishedRun:
    """Run the workflow, then ``snakemake --report report.zip``, on a small calibrated image."""
    store = root / "image.ome.zarr"
    scale = (0.5, 0.25)
    data = make_image(store, "cyx", (96, 112), 2, seed=31, scale=(1.0, *scale), levels=2)
    value = float(np.quantile(data[1], 0.75))
    bounds = {"min_volume": 0.5}  # 0.125 micrometer^2 voxels: objects of fewer than 4 go
    run = FinishedRun(root, store, root / "config.yaml", root / "work", data, 1, value, scale, (32, 40),
                      bounds)
    write_config(root, {
        "input": {"store": str(store), "channel": run.channel},
        "output": {"label_name": "cells"},
        "workdir": str(run.workdir),
        "tiling": {"tile_shape": list(run.tile), "overlap": 2},
        "method": {"name": "threshold", "threshold": {"value": value}},
        "connectivity": 2,
        "filter": bounds,
    })
    succeeded(snakemake(run.config))
    succeeded(snakemake(run.config, "--report", str(root / "report.zip")))
    return run


def readme_python(section: str) -> list[str]:
    """The ```python blocks of one ``## section`` of the README, in order."""
    text = (REPO / "README.md").read_text().split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", text, re.S)
