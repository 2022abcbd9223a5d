"""The README's Python API section runs as written, block after block in one namespace, on a small
z/y/x OME-Zarr image named as it names it (embryo.ome.zarr, 2 levels). Blocks that need what this
environment lacks run elsewhere: the model block in the models' environment
(tests/test_seed_models.py), the napari block against a hidden viewer (tests/test_napari.py), and
the SLURMCluster block needs a SLURM cluster and dask-jobqueue (not tested)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from runs import blobs, readme_python
from scipy import ndimage
from test_exactness import assert_same_labels

from patchworks.io.images import write_image

ELSEWHERE = ("cellpose_fn", "dask_jobqueue", "view_in_napari")


def test_readme_python_api_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = readme_python("Python API")
    here = [b for b in blocks if not any(name in b for name in ELSEWHERE)]
    assert len(blocks) == 8 and len(here) == 5
    data = blobs((3, 128, 128), seed=33, top=400)
    write_image(tmp_path / "embryo.ome.zarr", data, "zyx", levels=2, chunks=(1, 64, 64))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    with pytest.warns(UserWarning):  # auto_tile_shape_cellpose without a GPU; pyramid_levels 5 vs 2
        for block in here:
            exec(compile(block, "README.md", "exec"), namespace)
    reference = ndimage.label(data > 120)[0]
    assert_same_labels(reference, zarr.open_array("embryo.ome.zarr/labels/nuclei/0", mode="r")[...])
    for store in ("labels.zarr/nuclei", "sparse.zarr/labels", "sized.zarr/labels", "cluster.zarr/labels",
                  "merged.zarr/labels", "merged2.zarr/labels"):
        labels = zarr.open_array(store, mode="r")
        assert labels.dtype == np.int32
        assert_same_labels(reference, labels[...])
