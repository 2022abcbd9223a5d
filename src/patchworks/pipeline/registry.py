"""The workflow's steps, in the order they run: one entry each, read by the job runner
(:mod:`.job`: which steps a job may run, and how), the in-process runner (:mod:`.local`,
the Python API's), ``patchworks-status`` (which steps have one job per tile, face or region) and
the Snakefile (which includes each step's rule file, ``workflow/rules/<rule_file>.smk``).

A new step is its function in :mod:`.steps`, its rule file and one entry here. Importing this module
loads nothing heavy: a step's call imports :mod:`.steps` when a job runs it.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..layout import Layout

if TYPE_CHECKING:
    from .plan import Plan

Call = Callable[[dict[str, Any], Namespace], None]
Outputs = Callable[["Plan", Namespace], list[str]]


@dataclass(frozen=True)
class Step:
    """One step: ``call(config, job)`` runs one of its jobs (``job``: the job's parsed command line, as
    ``scripts/job.py`` gets it from the step's rule, whose outputs ``outputs(plan, job)`` names too)."""

    name: str
    call: Call
    outputs: Outputs
    per: str = "run"  # "run": one job per image; "tile", "face", "region": one job each; "series": one
    # job per time series, after its timepoints'; "experiment": one for a run of many images, at the end
    when: Callable[[Plan], bool] = lambda plan: True  # whether a run has this step's jobs
    rule_file: str = ""  # workflow/rules/<rule_file>.smk (default: the step's name)
    record: str = ".json"  # the suffix of a per-job step's records, one per job, named by the job
    makes_input: bool = False  # it makes the input image (the demo, a conversion): before any check
    runs_method: bool = False  # its jobs run the method (in-process: a Python callable, if given)
    method_only: bool = False  # only for the configured method, not a Python callable (in-process)
    in_process: bool = True  # also run by the in-process runner (the report's figures are not)
    progress: Callable[[Plan], str] | None = None  # its progress bar's label (default: its name)

    def jobs(self, plan: Plan) -> list[str]:
        """The names of the step's jobs (of its records and logs)."""
        if self.per == "tile":
            return [str(t) for t in range(plan.grid.n_tiles)]
        if self.per == "face":
            return [Path(plan.face_file(t, a)).stem for t, a in plan.grid.faces()]
        if self.per == "region":
            return [str(r) for r in range(len(plan.conversion.regions(plan.grid)))]
        return [self.name]

    def job(self, plan: Plan, name: str) -> Namespace:
        """Job ``name``'s command line as its rule gives it (the in-process runner's jobs)."""
        paths, number = plan.paths, int(name) if self.per in ("tile", "region") else None
        job = Namespace(step=self.name, tile=number, region=number, neighbour=None, log=None, gpu=0,
                        tile_shape=None, init=paths.convert_init, servers=False, fn=None,
                        series=name if self.per == "series" else None,
                        threshold=paths.threshold if plan.needs_threshold_job else None,
                        normalization=paths.normalization if plan.needs_normalization_job else None)
        if self.per == "face":
            job.tile, job.neighbour = map(int, name.split("-"))
        job.output = self.outputs(plan, job)
        return job


def _steps() -> ModuleType:
    from . import steps

    return steps


def _series() -> ModuleType:
    from ..experiment import series

    return series


def _tables() -> ModuleType:
    from ..experiment import tables

    return tables


def _jobs() -> ModuleType:
    from . import job

    return job


def _demo(plan: Plan) -> bool:
    return plan.config["input"]["demo"] and not Path(plan.config["input"]["store"]).exists()


def _converts(plan: Plan) -> bool:
    return plan.conversion is not None


STEPS: dict[str, Step] = {step.name: step for step in (
    Step("demo", lambda c, j: _steps().build_demo(c), lambda plan, job: [plan.input_marker], when=_demo,
         makes_input=True),
    Step("convert_init", lambda c, j: _steps().convert_init(c, j.output[0]),
         lambda plan, job: [plan.paths.convert_init], rule_file="convert", when=_converts, makes_input=True),
    Step("convert", lambda c, j: _steps().convert_region(c, j.region, j.init, j.output[0]),
         lambda plan, job: [plan.paths.convert_region(job.region)], per="region", when=_converts,
         makes_input=True),
    Step("convert_finish", lambda c, j: _steps().convert_finish(c, j.init, j.output[0]),
         lambda plan, job: [plan.input_marker], rule_file="convert", when=_converts, makes_input=True),
    Step("prepare", lambda c, j: _steps().prepare(c, j.output[0], j.tile_shape),
         lambda plan, job: [plan.paths.prepare]),
    Step("fetch_model", lambda c, j: _steps().fetch_model(c, j.output[0]),
         lambda plan, job: [Layout.of_run(plan.config).model],
         when=lambda plan: plan.model_to_fetch is not None, method_only=True),
    Step("threshold", lambda c, j: _steps().image_threshold(c, j.output[0]),
         lambda plan, job: [plan.paths.threshold], when=lambda plan: plan.needs_threshold_job),
    Step("normalization", lambda c, j: _steps().normalization(c, j.output[0]),
         lambda plan, job: [plan.paths.normalization], when=lambda plan: plan.needs_normalization_job,
         method_only=True),
    Step("occupancy", lambda c, j: _steps().occupancy(c, j.tile, j.threshold, j.output[0]),
         lambda plan, job: [plan.paths.occupancy(job.tile)], per="tile",
         when=lambda plan: plan.needs_occupancy_job, in_process=False),
    Step("stage", lambda c, j: _jobs().stage(c, j), lambda plan, job: [plan.paths.stage_record(job.tile)],
         per="tile", runs_method=True),
    Step("faces", lambda c, j: _jobs().faces(c, j),
         lambda plan, job: [plan.paths.face(job.tile, job.neighbour)], per="face",
         record=".npy"),
    Step("cc", lambda c, j: _steps().cc(c, j.output[0]), lambda plan, job: [plan.paths.cc]),
    Step("measure", lambda c, j: _steps().measure(c, j.output[0], j.output[1]),
         lambda plan, job: [plan.paths.objects, plan.paths.seams]),
    Step("label_image", lambda c, j: _steps().label_image(c, j.output[0]),
         lambda plan, job: [plan.paths.label_image]),
    Step("pyramid", lambda c, j: _steps().pyramid(c, j.output[0]), lambda plan, job: [plan.paths.pyramid]),
    Step("relabel", lambda c, j: _steps().relabel(c, j.tile, j.output[0]),
         lambda plan, job: [plan.paths.relabel_record(job.tile)], per="tile",
         progress=lambda plan: "write labels" + (" and pyramid" if plan.label_image.levels > 1 else "")),
    Step("publish", lambda c, j: _steps().publish(c, j.output[0]), lambda plan, job: [plan.paths.published]),
    Step("figures", lambda c, j: _steps().figures(c),
         lambda plan, job: list(plan.paths.report_files.values()), in_process=False),
    Step("series", lambda c, j: _series().publish(c, j.series, j.output[0]),
         lambda plan, job: [Layout.of_run(plan.config).series_published(job.series)], per="series"),
    Step("experiment", lambda c, j: _tables().write(c, j.output[0], j.output[1], j.output[2:]),
         lambda plan, job: [Layout.of_run(plan.config).images_table, Layout.of_run(plan.config).objects],
         per="experiment"),
)}


def rule_files() -> list[str]:
    """The rule files, each once, in the steps' order."""
    return list(dict.fromkeys(step.rule_file or step.name for step in STEPS.values()))
