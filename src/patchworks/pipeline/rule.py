"""Entry point of the rule scripts: run one step with the job's log file attached."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import resource
import shutil
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..methods import uses_gpu
from ..segment import server
from . import steps

Step = Callable[[Any], None]


def stage(s: Any) -> None:
    """A stage job: in a tile server when the method is served and the job needs its model (a job of a
    GPU method given no GPU has a tile known to be empty: it runs here, loading no model)."""
    method = s.config["method"]
    served = server.serves(method) and (not uses_gpu(method) or s.resources.get("gpu", 0))
    (server.stage if served else steps.stage)(s.config, int(s.wildcards.tile), s.input.get("threshold"),
                                              s.input.get("normalization"), s.output[0])


STEPS: dict[str, Step] = {
    "demo": lambda s: steps.build_demo(s.config),
    "convert_init": lambda s: steps.convert_init(s.config, s.output[0]),
    "convert": lambda s: steps.convert_region(s.config, int(s.wildcards.region), s.input[0], s.output[0]),
    "convert_finish": lambda s: steps.convert_finish(s.config, s.input.init, s.output[0]),
    "prepare": lambda s: steps.prepare(s.config, s.output[0], s.params.tile_shape),
    "threshold": lambda s: steps.image_threshold(s.config, s.output[0]),
    "occupancy": lambda s: steps.occupancy(s.config, int(s.wildcards.tile), s.input.get("threshold"),
                                           s.output[0]),
    "normalization": lambda s: steps.normalization(s.config, s.output[0]),
    "fetch_model": lambda s: steps.fetch_model(s.config, s.output[0]),
    "stage": stage,
    "faces": lambda s: steps.faces(s.config, int(s.wildcards.tile), int(s.wildcards.axis), s.output[0]),
    "cc": lambda s: steps.cc(s.config, s.input.stage, s.input.faces, s.output[0]),
    "label_image": lambda s: steps.label_image(s.config, s.output[0]),
    "relabel": lambda s: steps.relabel(s.config, int(s.wildcards.tile), s.output[0]),
    "pyramid": lambda s: steps.pyramid(s.config, s.output[0]),
    "measure": lambda s: steps.measure(s.config, s.output[0]),
    "figures": lambda s: steps.figures(s.config, dict(s.output.items())),
    "publish": lambda s: steps.publish(s.config, s.input.cc, s.input.objects, s.output[0]),
}


M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def release_freed_memory() -> None:
    """Let tile-sized buffers go back to the OS when freed. glibc raises its mmap threshold to the
    size of each freed block (up to 32 MB) and then keeps such blocks in its heap, which a job's
    peak RSS would carry; a fixed 1 MiB threshold stops that. No-op without glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(M_MMAP_THRESHOLD, 1 << 20)


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux: VmHWM, which starts afresh at exec; ru_maxrss
    would also count the pages of the (large) Snakemake process this job was forked from."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(snakemake: Any, step: str) -> None:
    """Run ``step`` for the job described by Snakemake's ``snakemake`` object.

    Output goes to the job's log file; a failure is written there and to stderr, then the
    job exits non-zero.
    """
    log_path = snakemake.log[0] if snakemake.log else None
    release_freed_memory()
    try:
        with contextlib.ExitStack() as stack:
            if log_path:
                fh = stack.enter_context(open(log_path, "w"))
                stack.enter_context(contextlib.redirect_stdout(fh))
                stack.enter_context(contextlib.redirect_stderr(fh))
            logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True)
            try:
                STEPS[step](snakemake)
            except Exception as err:
                traceback.print_exc()
                print(failure(step, err, snakemake.config), file=sys.stderr)  # the job's log
                raise
            print(f"patchworks {step}: done, peak RSS {peak_rss_mb():.1f} MB")
    except Exception as err:  # also a log that cannot be written (a full disk)
        print(failure(step, err, snakemake.config), file=sys.__stderr__)
        if log_path:
            print(f"  (log: {log_path})", file=sys.__stderr__)
        sys.exit(1)


def failure(step: str, err: Exception, config: dict[str, Any] | None = None) -> str:
    """The one-line message of a failed job (``patchworks-status`` finds it in the log)."""
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        where = f" writing {err.filename}" if err.filename else ""
        return (f"patchworks {step} failed: the disk is full (No space left on device){where}; "
                f"{free_space(config or {})}free space there, or set workdir / output.store to a disk with "
                "room, then run the same command again")
    return f"patchworks {step} failed: {type(err).__name__}: {err}"


def free_space(config: dict[str, Any]) -> str:
    """Free bytes on the disks a job writes to: the work directory and the store of the labels."""
    out = config.get("output") or {}
    paths = [config.get("workdir"), out.get("store") or (config.get("input") or {}).get("store")]
    parts = []
    for path in filter(None, paths):
        existing = Path(path).absolute()
        while not existing.exists():
            existing = existing.parent
        parts.append(f"{path} ({shutil.disk_usage(existing).free / 1e6:.1f} MB free)")
    return f"disks written: {', '.join(parts)}; " if parts else ""
