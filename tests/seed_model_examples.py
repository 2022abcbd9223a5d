"""The seeds' Cellpose and StarDist examples as written, apart from file names and sizes; run in the
models' environment by tests/test_seed_models.py (``python seed_model_examples.py WORKDIR NAME...``:
each example NAME runs in WORKDIR/NAME, which holds image.zarr).

Offline, with no weight download: ``CELLPOSE_LOCAL_MODELS_PATH`` holds the Cellpose 3 weights
converted from scellseg under the name ``cyto3``, so Cellpose loads them as its built-in cyto3
(``gpu=True`` falls back to the CPU here, as Cellpose does without a GPU); the StarDist model shipped
in models/stardist/nuclei2d is registered as ``2D_versatile_fluo`` from a local zip (``STARDIST_ZIP``,
its md5 in ``STARDIST_MD5``), so ``from_pretrained`` takes its usual path (keras' get_file, hash
check, extraction into ``KERAS_HOME``).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path


def register_stardist_offline() -> None:
    from csbdeep.models.pretrained import register_model
    from stardist.models import StarDist2D

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "re-registering model '2D_versatile_fluo'"
        register_model(StarDist2D, "2D_versatile_fluo", Path(os.environ["STARDIST_ZIP"]).as_uri(),
                       os.environ["STARDIST_MD5"])


def api_page_cellpose() -> None:
    from patchworks import tile_process

    from patchworks.plugins.cellpose import cellpose_fn

    fn = cellpose_fn("cyto3", gpu=True, diameter=30)
    result = tile_process(
        "image.zarr", fn,
        tile_shape=(1, 256, 256),
        overlap=20,
        write_to="labels.zarr",
        progress=True,
    )
    assert result.dtype == "int32"


def readme_cellpose() -> None:
    from patchworks import tile_process
    from patchworks.plugins.cellpose import cellpose_fn
    fn = cellpose_fn("cyto3", gpu=True, diameter=30)
    tile_process(
        "image.zarr",
        fn,
        tile_shape=(1, 256, 256), # one z-slice per tile
        overlap=20, # gives boundary cells enough context
        write_to="labels.zarr", # stream directly to disk — no RAM accumulation
        progress=True,
    )


def api_page_stardist() -> None:
    from patchworks import tile_process

    from stardist.models import StarDist2D
    model = StarDist2D.from_pretrained("2D_versatile_fluo")

    def stardist_fn(tile):
        norm = tile.astype("float32") / tile.max()
        labels, _ = model.predict_instances(norm)
        return labels.astype("int32")

    result = tile_process("image.zarr", stardist_fn,
                          tile_shape=(1, 256, 256), overlap=32)
    assert result.dtype == "int32"


def readme_stardist() -> None:
    from stardist.models import StarDist2D
    from patchworks import tile_process
    model = StarDist2D.from_pretrained("2D_versatile_fluo")
    def stardist_fn(tile):
        img = tile[0] if tile.ndim == 3 and tile.shape[0] == 1 else tile
        norm = img.astype("float32") / (img.max() or 1)
        labels, _ = model.predict_instances(norm)
        return labels.astype("int32")[None] if tile.ndim == 3 else labels.astype("int32")
    tile_process(
        "image.zarr",
        stardist_fn,
        tile_shape=(1, 256, 256),
        overlap=32,
        write_to="labels.zarr",
        progress=True,
    )


def same_as_workflow() -> None:
    """The calls of tests/test_seed_models.py's workflow comparison (cellpose, stitch touch)."""
    from patchworks import tile_process
    from patchworks.plugins.cellpose import cellpose_fn

    tile_process("image.zarr", cellpose_fn("cyto3", gpu=True, diameter=30), tile_shape=(192, 192),
                 overlap=20, output_component="nuclei", progress=False)


def readme_api_models() -> None:
    """The model block of the README's Python API section (its text in $README_BLOCK)."""
    exec(compile(Path(os.environ["README_BLOCK"]).read_text(), "README.md", "exec"), {"__name__": "__main__"})


EXAMPLES = {f.__name__: f for f in (api_page_cellpose, readme_cellpose, api_page_stardist, readme_stardist,
                                    same_as_workflow, readme_api_models)}

if __name__ == "__main__":
    workdir, names = Path(sys.argv[1]), sys.argv[2:]
    register_stardist_offline()
    for name in names:
        os.chdir(workdir / name)
        EXAMPLES[name]()
        print(f"example done: {name}", flush=True)
