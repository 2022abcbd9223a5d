"""Run the whole pipeline in this process (no Snakemake): the Python API and tests use it.

It runs the same step functions as the workflow's rules, in the same order, so a local run and
a workflow run with the same config write the same labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..io import atomic
from ..methods import TileFn
from . import steps
from .config import validate_config
from .executor import Tasks
from .plan import Plan


def run(config: dict[str, Any], workers: int = 1, fn: TileFn | None = None, *,
        stage_workers: int | None = None, client: Any = None, progress: bool = False) -> Plan:
    """Validate ``config`` and run every step; returns the plan (paths, geometry, labels).

    Per-tile steps run in ``workers`` processes (``stage_workers`` for the stage step), or on the
    dask.distributed ``client``'s workers when one is given; ``progress`` shows a bar per step.
    ``fn`` replaces the configured method (any Python callable); without a client its tiles run
    in threads, so it need not be picklable.
    """
    config = validate_config(config)
    plan = Plan(config)
    if config["input"]["demo"] and not Path(config["input"]["store"]).exists():
        steps.build_demo(config)
    if plan.conversion:
        convert(config, workers)
    plan.validate(method=fn is None)
    steps.prepare(config, plan.paths.prepare)
    if plan.model_to_fetch and fn is None:
        steps.fetch_model(config, plan.paths.model)
    threshold = plan.paths.threshold if plan.needs_threshold_job else None
    if threshold:
        steps.image_threshold(config, threshold)
    normalization = plan.paths.normalization if plan.needs_normalization_job and fn is None else None
    if normalization:
        steps.normalization(config, normalization)
    tasks = Tasks(workers, client, progress)
    tiles = range(plan.grid.n_tiles)
    shared_fn = tasks.share(fn)
    tasks.map(steps.stage, [(config, t, threshold, normalization, plan.paths.stage_record(t), shared_fn)
                            for t in tiles], "stage", threads=fn is not None, workers=stage_workers)
    tasks.map(steps.faces, [(config, t, a, plan.face_file(t, a)) for t, a in plan.grid.faces()], "faces")
    steps.cc(config, plan.paths.cc)
    steps.measure(config, plan.paths.objects, plan.paths.seams)
    steps.label_image(config, plan.paths.label_image)
    steps.pyramid(config, plan.paths.pyramid)
    tasks.map(steps.relabel, [(config, t, plan.paths.relabel_record(t)) for t in tiles],
              "write labels" + (" and pyramid" if plan.label.levels > 1 else ""))
    steps.publish(config, plan.paths.published)
    return plan


def convert(config: dict[str, Any], workers: int = 1) -> Plan:
    """Convert the microscope file of ``config`` (validated) to its OME-Zarr: the workflow's
    conversion steps, the regions in ``workers`` processes."""
    plan = Plan(config)
    init = plan.paths.convert_init
    steps.convert_init(config, init)
    regions = range(atomic.read_json(init)["regions"])
    Tasks(workers).map(steps.convert_region,
                       [(config, r, init, plan.paths.convert_region(r)) for r in regions], "convert")
    steps.convert_finish(config, init, plan.input_marker)
    return Plan(config)
