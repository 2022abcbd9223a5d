"""The job runner: run one job of a step (:mod:`.registry`), with the job's log file attached.

Each rule's shell command is ``python scripts/job.py --log LOG STEP [options] OUTPUT...``
(``workflow/rules/common.smk``). The run's config comes as JSON in the environment variable
``PATCHWORKS_CONFIG``, which the Snakefile sets from Snakemake's config in every process that runs
jobs (the submit host's, and on a cluster the job's own Snakemake): on the command line it would fill
Snakemake's messages, and as a rule's params any change to it would rerun every job. A job imports
only what its step needs: a served stage job hands its tile to a tile server and loads no array
library at all.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import json
import logging
import os
import resource
import shutil
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

CONFIG_VARIABLE = "PATCHWORKS_CONFIG"
FORKED_BY: int | None = None  # the job fork server that forked this job, if one did

def stage(config: dict[str, Any], job: argparse.Namespace) -> None:
    """A stage job: in a tile server when the job may use one (``job.servers``: not in-process runs),
    the method is served and the job needs its model (a job of a GPU method given no GPU has a tile
    known to be empty: it runs here, loading no model), else, or when no server can be used, in this
    process (with ``job.fn`` as its method, when the Python API gives one)."""
    from ..methods import method_of
    from ..servers import tile

    method = method_of(config["method"])
    if job.servers and method.served and (not method.uses_gpu or job.gpu):
        try:
            return tile.stage(config, job.tile, job.threshold, job.normalization, job.output[0])
        except tile.Unavailable as why:
            warn(f"no tile server ({why}); this job segments its tile in its own process")
    from . import steps

    steps.stage(config, job.tile, job.threshold, job.normalization, job.output[0], job.fn)


def faces(config: dict[str, Any], job: argparse.Namespace) -> None:
    """A face job, named by the face's two tiles."""
    from . import steps
    from .plan import Plan

    steps.faces(config, job.tile, Plan(config).grid.face_axis(job.tile, job.neighbour), job.output[0])


def warn(message: str) -> None:
    """One warning line in the job's log: a server that could not be used."""
    print(f"patchworks: warning: {message}", file=sys.stderr, flush=True)


OPTIONS: dict[str, dict[str, Any]] = {  # the options of every step's jobs, parsed alike
    **{name: {"type": int} for name in ("tile", "neighbour", "region", "gpu")},
    "image": {"help": "the job's image, of a run of many"},
    "series": {"help": "the job's time series, of a run of many images"},
    "tile_shape": {"type": int, "nargs": "+", "help": "tiles as fixed on the submit host"},
    # an input file; empty when the job has none
    **{name: {"type": lambda v: v or None} for name in ("threshold", "normalization", "init")},
}


def parser() -> argparse.ArgumentParser:
    from .registry import STEPS  # here, as every import past delegation: a forked job has them

    p = argparse.ArgumentParser(prog="scripts/job.py", description="Run one step of the workflow.")
    p.add_argument("step", choices=STEPS)
    p.add_argument("output", nargs="*", help="the job's output files")
    p.add_argument("--log", help="the job's log file")
    for name, kwargs in OPTIONS.items():
        p.add_argument(f"--{name.replace('_', '-')}", **kwargs)
    p.set_defaults(servers=True, fn=None)  # a workflow job may use servers; its method is the config's
    return p


def export_config(config: dict[str, Any]) -> None:
    """Put the run's config where this process's jobs find it (see the module's docstring); a value
    that JSON cannot carry (a YAML date, say) is a ConfigError naming its key."""
    from ..errors import ConfigError

    for key, value in leaves(config):
        if not isinstance(value, str | int | float | bool | type(None)):
            raise ConfigError(f"{key}: {value!r} ({type(value).__name__}) is not plain data; give numbers, "
                              "strings, booleans, null, lists and mappings only (quote a date or time)")
    os.environ[CONFIG_VARIABLE] = json.dumps(config)


def leaves(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar in nested mappings and lists, with its dotted key."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, f"{key}[{i}]")
    else:
        yield key, value


def main(argv: list[str] | None = None, fork: bool = False) -> None:
    """Run the job ``argv`` (default: this process's command line); with ``fork``, in the run's job fork
    server when there is one (:mod:`patchworks.servers.fork`)."""
    argv = sys.argv[1:] if argv is None else argv
    given = json.loads(os.environ[CONFIG_VARIABLE])  # as the Snakefile validated and exported it
    notes: list[str] = []
    if fork:
        from ..servers import fork as fork_server

        try:
            if fork_server.enabled() and (code := fork_server.delegate(argv, given)) is not None:
                sys.exit(code)
        except fork_server.Unavailable as why:
            notes.append(f"no job fork server ({why}); this job runs in its own interpreter")
    from .config import validate_config  # here: a job handed to the fork server needs none of it

    job = parser().parse_intermixed_args(argv)
    config = validate_config(given)  # the one config reader (< 1 ms)
    if job.image is not None:  # one image of many: its config, from the images the submit host recorded
        from ..experiment.images import Experiment

        config = Experiment(config, fresh=False).image_config(job.image)
    run(job.step, config, job, job.log, notes)


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
NEVER = 2**31 - 1


def tune_malloc() -> None:
    """Set glibc's allocator for a job. Blocks over 1 MiB (tile-sized buffers) are mapped and go back
    to the OS when freed, so a job's peak RSS carries no freed tile (glibc would raise its mmap
    threshold to each freed block's size, up to 32 MB, and keep such blocks). The heap under them is
    never trimmed: the many smaller buffers a job frees and allocates again reuse their pages instead
    of faulting fresh ones in (on the benchmark image: 18 % less time in the stage's measurements,
    a tenth less system time end to end, the same peak RSS). No-op without glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(M_MMAP_THRESHOLD, 1 << 20)
    libc.mallopt(M_TRIM_THRESHOLD, NEVER)


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux: VmHWM, which starts afresh at exec; ru_maxrss
    would also count the pages of the (large) Snakemake process this job was forked from."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(step: str, config: dict[str, Any], job: argparse.Namespace, log_path: str | None,
        notes: Sequence[str] = ()) -> None:
    """Run ``step`` for the job described by ``job`` (its parsed command line).

    Output goes to the job's log file, after the warnings in ``notes``; a failure is written there and
    to stderr, then the job exits non-zero.
    """
    tune_malloc()
    try:
        with contextlib.ExitStack() as stack:
            if log_path:
                fh = stack.enter_context(open(log_path, "w"))
                stack.enter_context(contextlib.redirect_stdout(fh))
                stack.enter_context(contextlib.redirect_stderr(fh))
            logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True)
            for note in notes:
                warn(note)
            try:
                from .registry import STEPS

                STEPS[step].call(config, job)
            except Exception as err:
                traceback.print_exc()
                print(failure(step, err, config), file=sys.stderr)  # the job's log
                raise
            forked = f" (forked by the job fork server pid {FORKED_BY})" if FORKED_BY else ""
            print(f"patchworks {step}: done, peak RSS {peak_rss_mb():.1f} MB{forked}")
    except Exception as err:  # also a log that cannot be written (a full disk)
        print(failure(step, err, config), file=sys.__stderr__)
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
