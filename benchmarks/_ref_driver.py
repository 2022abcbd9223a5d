"""Runs INSIDE the reference venv (PyPI patchworks==3.3.0): never import it from our venv.

    <ref-python> _ref_driver.py e2e   IMAGE LABEL TILE OVERLAP THRESHOLD LEVELS WORKERS
    <ref-python> _ref_driver.py stage STAGED_NPY_SRC ...   (see below)

Prints one JSON line with the seconds it measured.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from scipy import ndimage

THRESHOLD = 0.0


def threshold_fn(tile: np.ndarray) -> np.ndarray:
    """Pointwise threshold + scipy.ndimage.label (connectivity 1): the same as our ``threshold`` method."""
    labels, _ = ndimage.label(tile > THRESHOLD, output=np.int32)
    return labels


def e2e(
    image: str, label: str, tile: list[int], overlap: int, threshold: float, levels: int, workers: int
) -> dict:
    global THRESHOLD
    THRESHOLD = threshold
    from patchworks import tile_process

    t0 = time.perf_counter()
    tile_process(
        image,
        threshold_fn,
        tile_shape=tuple(tile),
        overlap=overlap,
        max_workers=workers,
        progress=False,
        output_component=label,
        pyramid_levels=levels,
        sequential_labels=True,
    )
    return {"seconds": time.perf_counter() - t0}


def copy_stage(src: str, dst: str, tile: list[int]) -> None:
    """Our staged labels (uint32, 1..n per tile) as the reference's stage store: int32, one chunk per tile,
    the reference's own default codec. Not timed."""
    import zarr
    from patchworks._io import zarr_compressor_kwargs

    a = zarr.open_array(src, mode="r")
    group = zarr.open_group(dst, mode="w", zarr_format=3)
    out = group.create_array(
        "staged", shape=a.shape, chunks=tuple(tile), dtype="int32", fill_value=0, **zarr_compressor_kwargs(3)
    )
    grid = [range(0, s, t) for s, t in zip(a.shape, tile)]
    import itertools

    for corner in itertools.product(*grid):
        region = tuple(slice(c, min(c + t, s)) for c, t, s in zip(corner, tile, a.shape))
        out[region] = np.asarray(a[region]).astype(np.int32)


def merge(
    stage: str, counts: list[int], image: str, label: str, scratch: str, levels: int, workers: int
) -> dict:
    """What tile_process does after staging: zarr-native merge to a scratch store, then the NGFF
    label pyramid written into the input store (write_labels)."""
    import dask.array as da

    from patchworks import merge_tile_labels
    from patchworks.plugins.ome_zarr import write_labels

    t0 = time.perf_counter()
    merged = merge_tile_labels(
        stage,
        write_to=scratch,
        input_component="staged",
        output_component="labels",
        sequential_labels=True,
        n_workers=workers,
        label_counts=counts,
    )
    t1 = time.perf_counter()
    write_labels(
        image,
        da.from_zarr(scratch, component="labels"),
        name=label,
        n_levels=levels,
        progress=False,
        overwrite=True,
    )
    t2 = time.perf_counter()
    del merged
    return {"seconds": t2 - t0, "merge_seconds": t1 - t0, "pyramid_seconds": t2 - t1}


def main() -> None:
    args = json.loads(sys.argv[2])
    mode = sys.argv[1]
    if mode == "e2e":
        out = e2e(**args)
    elif mode == "copy_stage":
        copy_stage(**args)
        out = {}
    else:
        out = merge(**args)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
