"""Peak memory of one Cellpose stage tile on the CPU, per Cellpose generation: the process's peak RSS
after loading the model, and after evaluating one 2-D tile of each size (``--tiles``), through the
workflow's own method (``patchworks.methods.cellpose.segment``: normalised tile, ``normalize`` off).

    <python of a Cellpose 3 or 4 environment> benchmarks/cellpose_memory.py WEIGHTS [--tiles 256 512]

Each tile size runs in a process of its own (peak RSS only grows). The figures are in
``docs/benchmarks.md``; the method's sizing (``CellposeMethod.base_bytes``/``bytes_per_voxel``) uses them.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(weights: str, side: int) -> dict[str, float]:
    import numpy as np

    from patchworks.methods.cellpose import load_model, segment

    t0 = time.perf_counter()
    cfg = {"model": weights, "gpu": False, "diameter": None, "nuclear_channel": None, "do_3D": False,
           "stitch_threshold": 0.0, "eval_kwargs": {}}
    load_model(weights, False)
    loaded = peak_mb()
    t1 = time.perf_counter()
    tile = (np.random.default_rng(0).random((side, side)) * 1000).astype(np.uint16)
    segment(tile, cfg, (0.0, 1000.0), None)
    return {"tile": side, "load_s": t1 - t0, "eval_s": time.perf_counter() - t1, "loaded_mb": loaded,
            "peak_mb": peak_mb()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights")
    ap.add_argument("--tiles", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.weights, args.one)))
        return
    from importlib.metadata import version

    print(f"Cellpose {version('cellpose')}, {args.weights}")
    for side in args.tiles:
        out = subprocess.run([sys.executable, __file__, args.weights, "--one", str(side)],
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        print(f"tile {side}²: model loaded {r['loaded_mb']:.0f} MB peak RSS ({r['load_s']:.1f} s), after one "
              f"tile {r['peak_mb']:.0f} MB ({r['eval_s']:.1f} s)")


if __name__ == "__main__":
    main()
