"""Runs in our venv, in a fresh process (so run.py can count its CPU time as a child's).

    python _ours_driver.py merge CONFIG.yaml WORKERS   faces -> cc -> label_image -> pyramid -> relabel (every
                                                       level) -> publish, in process (pipeline.steps),
                                                       on the stage store a finished run left behind: the
                                                       work the reference's merge does
    python _ours_driver.py table CONFIG.yaml           the measure step alone (the object table and its
                                                       seam check, which the reference does not make), on
                                                       the relabel table the merge left behind
    python _ours_driver.py floor SRC DST TILE WORKERS  the I/O floor: read the staged labels tile by tile and
                                                       write them to a new array with the same chunks,
                                                       dtype and codecs, no remap

Prints one JSON line with the wall seconds.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import yaml
import zarr


def _load(config_file: str):
    from patchworks.pipeline.config import validate_config
    from patchworks.pipeline.plan import Plan

    config = validate_config(yaml.safe_load(open(config_file)))
    return config, Plan(config)


def merge(config_file: str, workers: int) -> dict:
    from patchworks.pipeline import steps
    from patchworks.pipeline.executor import Tasks

    config, plan = _load(config_file)
    tiles = range(plan.grid.n_tiles)
    t0 = time.perf_counter()
    tasks = Tasks(workers)
    tasks.map(steps.faces, [(config, t, a, plan.face_file(t, a)) for t, a in plan.grid.faces()], "faces")
    t1 = time.perf_counter()
    steps.cc(config, plan.paths.cc)
    steps.label_image(config, plan.paths.label_image)
    steps.pyramid(config, plan.paths.pyramid)
    t2 = time.perf_counter()
    tasks.map(steps.relabel, [(config, t, plan.paths.relabel_record(t)) for t in tiles], "relabel")
    steps.publish(config, plan.paths.published)
    t3 = time.perf_counter()
    return {"seconds": t3 - t0, "faces": t1 - t0, "cc": t2 - t1, "relabel + pyramid": t3 - t2}


def table(config_file: str) -> dict:
    from patchworks.pipeline import steps

    config, plan = _load(config_file)
    t0 = time.perf_counter()
    steps.measure(config, plan.paths.objects, plan.paths.seams)
    return {"seconds": time.perf_counter() - t0}


def _copy(src: str, dst: str, region: tuple[slice, ...]) -> None:
    zarr.open_array(dst, mode="r+")[region] = np.asarray(zarr.open_array(src, mode="r")[region])


def floor(src: str, dst: str, tile: list[int], workers: int) -> dict:
    from patchworks.pipeline.executor import Tasks
    from patchworks.tiling.grid import TileGrid

    a = zarr.open_array(src, mode="r")
    t0 = time.perf_counter()
    zarr.create_array(
        dst,
        shape=a.shape,
        chunks=a.chunks,
        dtype=a.dtype,
        fill_value=0,
        compressors=a.compressors,
        filters=a.filters,
        serializer=a.serializer,
        overwrite=True,
    )
    grid = TileGrid(a.shape, tuple(tile), (0,) * len(tile))
    regions = [grid.core(t) for t in range(grid.n_tiles)]
    Tasks(workers).map(_copy, [(src, dst, r) for r in regions], "copy")
    return {"seconds": time.perf_counter() - t0}


def main() -> None:
    if sys.argv[1] == "merge":
        out = merge(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "table":
        out = table(sys.argv[2])
    else:
        out = floor(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), int(sys.argv[5]))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
