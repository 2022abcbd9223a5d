"""Run the whole pipeline in this process (no Snakemake): the Python API and tests use it.

It runs the registry's steps (:mod:`.registry`), in its order and under its conditions, each job with
the command line its rule would give it, so a local run and a workflow run with the same config
write the same labels. Differences: no servers (each job here or in a worker of ``workers``), the
method may be a Python callable (``fn``), and the report's figures are not made.
"""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from ..experiment.images import Experiment
from ..methods import TileFn
from . import checks
from .config import validate_config
from .executor import Tasks
from .plan import Plan
from .registry import STEPS


def run(config: dict[str, Any], workers: int = 1, fn: TileFn | None = None, *,
        stage_workers: int | None = None, client: Any = None, progress: bool = False) -> Plan | list[Plan]:
    """Validate ``config`` and run every step; returns the plan (paths, geometry, labels), or for a run
    of many images (a sheet, a glob, ...) each image's plan, in order, after the experiment's tables.

    Per-tile steps run in ``workers`` processes (``stage_workers`` for the stage step), or on the
    dask.distributed ``client``'s workers when one is given; ``progress`` shows a bar per step.
    ``fn`` replaces the configured method (any Python callable); without a client its tiles run
    in threads, so it need not be picklable.
    """
    config = validate_config(config)
    experiment = Experiment(config)
    options = {"workers": workers, "fn": fn, "stage_workers": stage_workers, "client": client,
               "progress": progress}
    if not experiment.many:
        return run_image(config, **options)
    plans = [run_image(experiment.image_config(image), **options) for image in experiment.ids]
    for series in experiment.series:
        run_job("series", config, STEPS["series"].job(plans[0], series))
    run_job("experiment", config, STEPS["experiment"].job(plans[0], "experiment"))
    return plans


def run_image(config: dict[str, Any], workers: int, fn: TileFn | None, stage_workers: int | None,
              client: Any, progress: bool) -> Plan:
    """Every step of one image (``config``: its validated config); its plan."""
    plan = convert(config, workers)
    checks.check(plan, method=fn is None)
    tasks = Tasks(workers, client, progress)
    shared_fn = tasks.share(fn)
    for step in STEPS.values():
        if step.makes_input or not step.in_process or (step.method_only and fn is not None) \
                or step.per in ("series", "experiment") or not step.when(plan):
            continue
        method = fn if step.runs_method else None
        if step.per == "run":
            run_job(step.name, config, step.job(plan, step.name), method)
            continue
        jobs = [(step.name, config, step.job(plan, name), shared_fn if step.runs_method else None)
                for name in step.jobs(plan)]
        label = step.progress(plan) if step.progress else step.name
        tasks.map(run_job, jobs, label, threads=method is not None,
                  workers=stage_workers if step.runs_method else None)
    return plan


def run_job(name: str, config: dict[str, Any], job: Namespace, fn: TileFn | None = None) -> None:
    """One job of step ``name`` in this process (its method ``fn``, where the step runs one and the
    Python API gives one)."""
    job.fn = fn
    STEPS[name].call(config, job)


def convert(config: dict[str, Any], workers: int = 1) -> Plan:
    """Make the input image of ``config`` (validated) where a step does (the demo; a microscope file's
    conversion to OME-Zarr, its regions in ``workers`` processes); the plan of the image made."""
    plan = Plan(config)
    for step in STEPS.values():
        if step.makes_input and step.when(plan):
            jobs = [(step.name, config, step.job(plan, name)) for name in step.jobs(plan)]
            if step.per == "run":
                run_job(*jobs[0])
            else:
                Tasks(workers).map(run_job, jobs, step.name)
    return Plan(config)
