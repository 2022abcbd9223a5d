"""Automatic tile shape (from a memory budget, the cgroup/SLURM limit or NVML) and overlap (from
the object diameter and the voxel size)."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from runs import RUN_DIR, metadata_only_image

from patchworks.io import atomic
from patchworks.io.images import write_image
from patchworks.methods import Method
from patchworks.methods.threshold import ThresholdMethod
from patchworks.tiling.sizing import (
    SAFETY,
    auto_overlap,
    auto_tile_shape,
    memory_limit_bytes,
)


@pytest.mark.parametrize(("shape", "budget_mb", "chunks"), [
    ((4096, 4096), 64, None), ((4096, 4096), 1024, (256, 256)), ((30, 8000, 9000), 2048, (1, 512, 512)),
    ((100, 100), 4096, None), ((5, 2048, 2048), 256, (5, 256, 256)),
])
def test_auto_tile_shape_fits_budget_and_image(shape: tuple[int, ...], budget_mb: int,
                                              chunks: tuple[int, ...] | None) -> None:
    """The tile fits the budget at the method's bytes per voxel, lies within the image, is a multiple
    of the chunks where the image is larger, and is not much smaller than the budget allows."""
    per_voxel = Method.bytes_per_voxel + 2
    tile = auto_tile_shape(shape, np.uint16, budget_bytes=budget_mb << 20, bytes_per_voxel=per_voxel,
                           multiple_of=chunks)
    allowed = SAFETY * (budget_mb << 20) / per_voxel
    assert len(tile) == len(shape) and all(1 <= t <= s for t, s in zip(tile, shape))
    assert math.prod(tile) <= allowed
    if chunks:
        assert all(t % c == 0 or t == s for t, c, s in zip(tile, chunks, shape))
    if math.prod(shape) > allowed:  # uses most of what the budget allows (chunk rounding costs some)
        assert math.prod(tile) >= allowed / 2 ** (2 * len(shape))
    else:
        assert tile == shape


def test_memory_limit_follows_slurm_allocation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside a SLURM job the job's memory bounds the budget."""
    monkeypatch.setenv("SLURM_MEM_PER_NODE", "1500")
    assert memory_limit_bytes() <= 1500 << 20
    monkeypatch.delenv("SLURM_MEM_PER_NODE")
    monkeypatch.setenv("SLURM_MEM_PER_CPU", "300")
    monkeypatch.setenv("SLURM_CPUS_ON_NODE", "2")
    assert memory_limit_bytes() <= 600 << 20


def test_auto_overlap_is_two_diameters_per_axis() -> None:
    """Anisotropic voxels: fewer voxels of overlap along the coarse axis; never the whole tile."""
    assert auto_overlap(6.0, (2.0, 0.5, 0.5), (16, 64, 64)) == (6, 24, 24)
    assert auto_overlap(6.0, (2.0, 0.5, 0.5), (4, 20, 64)) == (3, 19, 24)


def test_workflow_auto_tiles_fixed_once_and_recorded(tmp_path: Path) -> None:
    """tile_shape auto with memory_mb: the tiles the dry run plans are those prepare records, and a
    rerun with another memory_mb keeps them (the record wins), so no job's tiles change."""
    write_image(tmp_path / "img.ome.zarr", np.zeros((600, 700), np.uint16), "yx", chunks=(100, 100))
    config = {"input": {"store": str(tmp_path / "img.ome.zarr")}, "workdir": str(tmp_path / "work"),
              "tiling": {"tile_shape": "auto", "memory_mb": 245},
              "method": {"name": "threshold", "threshold": {"value": 1}}}
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    snakemake = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", str(cfg)]
    run = subprocess.run(snakemake, cwd=RUN_DIR, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    expected = auto_tile_shape((600, 700), np.uint16, budget_bytes=245 << 20,
                               base_bytes=ThresholdMethod.base_bytes,
                               bytes_per_voxel=ThresholdMethod.bytes_per_voxel + 2, multiple_of=(100, 100))
    record = atomic.read_json(tmp_path / "work" / "labels" / "prepare.json")
    assert tuple(record["tile_shape"]) == expected and expected != (600, 700)
    config["tiling"]["memory_mb"] = 4000
    cfg.write_text(yaml.safe_dump(config))
    again = subprocess.run([*snakemake, "-n"], cwd=RUN_DIR, capture_output=True, text=True)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_gpu_tiles_leave_room_for_the_models_own_memory(tmp_path: Path) -> None:
    """``tile_shape: auto`` on a GPU budget takes the model's own memory off first, per Cellpose
    generation: Cellpose-SAM (cpsam, about 6 GB by itself) gets smaller tiles than Cellpose 3 (cyto3)
    from the same 16 GB, and a budget smaller than its model is a config error naming both sizes."""
    from patchworks.errors import ConfigError
    from patchworks.io.ngff import read_image_info
    from patchworks.methods import method_of
    from patchworks.tiling.resolve import method_tile_shape

    metadata_only_image(tmp_path / "image.ome.zarr", (64, 2048, 2048), (8, 256, 256))
    info = read_image_info(tmp_path / "image.ome.zarr")

    def cellpose(model: str) -> Method:
        return method_of({"name": "cellpose", "cellpose": {"model": model, "gpu": True, "diameter": 30,
                                                           "eval_kwargs": {}}})

    cyto3, cpsam = (method_tile_shape(info, cellpose(m), 16000, False) for m in ("cyto3", "cpsam"))
    assert math.prod(cpsam) < math.prod(cyto3), (cpsam, cyto3)
    assert cellpose("cpsam").conda_env == "cellpose-sam-gpu.yaml"
    assert cellpose("cyto3").conda_env == "cellpose-gpu.yaml"
    with pytest.raises(ConfigError, match=r"tiling.gpu_memory_mb: 8000 MB leaves no room for a tile: the "
                                          r"model of method.cellpose holds about 6144 MB"):
        method_tile_shape(info, cellpose("cpsam"), 8000, False)
