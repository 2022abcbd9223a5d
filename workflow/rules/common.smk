# The run's images and each one's plan: config + input metadata -> tile grid, method and files (no image
# data is read here). One image, or many (a sheet, a glob, every scene, a plate: the wildcard {image}).
import os
import sys

from snakemake.settings.types import DeploymentMethod

from patchworks.errors import PatchworksError
from patchworks.experiment.images import Experiment
from patchworks.pipeline import rerun_params  # the rules' params
from patchworks.pipeline.checks import check
from patchworks.pipeline.job import export_config
from patchworks.pipeline.plan import Plan
from patchworks.servers.process import announce_snakemake

try:
    # Metadata is read once, on the submit host; a cluster job's Snakemake reads the images it recorded
    # and builds the plan of its own job's image only.
    experiment = Experiment(config, fresh=workflow.is_main_process)
    IMAGES = experiment.ids  # [] for a run of one image
    plan = Plan(config) if experiment.many else experiment.plan(None)  # what every image shares: the method
    paths = experiment.paths  # every file of an image (patchworks.layout); for many: patterns of {image}
    run_paths = experiment.run_paths  # the run's own files (the model, the experiment's tables)
    if workflow.is_main_process:
        for each in experiment.plans():
            check(each)  # the config against each image's metadata, before any job
    export_config(config)  # for the jobs: see the JOB command below
    announce_snakemake()  # for the jobs' servers: the process they serve
except PatchworksError as err:
    sys.exit(f"patchworks: config error: {err}")


def plan_of(wildcards):
    """The plan of a job's image."""
    return experiment.plan(wildcards.get("image"))


def each_image(value):
    """``value(plan)`` for a rule's input or params: for one image, its value; for many, a function of
    the job's image (Snakemake calls it per job)."""
    return (lambda wildcards: value(plan_of(wildcards))) if experiment.many else value(plan)


# What a rule lists as input orders its jobs; it is not all that its job reads. relabel reads its
# tile of the stage store and the relabel table, but lists pyramid.json, which comes after both
# (pyramid <- label_image <- cc <- every stage job); a rule's params only make Snakemake rerun its
# jobs when a config value they depend on changes (patchworks.pipeline.rerun_params). Listing every
# read costs the DAG: relabel listing its tile's stage record and cc.json as well makes
# `snakemake -n` of 4,000 tiles take 24.6 s instead of 10.4 s (2.4x, benchmarks/rule_inputs.py).
# cc and publish list their per-tile inputs through functions for the same reason (cc.smk).


wildcard_constraints:
    tile=r"\d+",
    neighbour=r"\d+",
    image=r"[A-Za-z0-9._-]+",


# Every job runs one step: `python scripts/job.py --log LOG STEP [options] OUTPUT...`, with the
# interpreter of the rule's conda environment under --software-deployment-method conda, else
# Snakemake's own. The config reaches the job in the environment (export_config above;
# patchworks.pipeline.job says why).
PYTHON = "python" if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method else sys.executable
JOB_SCRIPT = os.path.join(workflow.basedir, "scripts", "job.py")
RUN_JOB = "{PYTHON:q} {JOB_SCRIPT:q} --log {log:q} "  # a job of the whole run
JOB = RUN_JOB + ("--image {wildcards.image} " if experiment.many else "")  # a job of an image


# conda environment of segmentation (and model fetching): the method's own (envs/)
MODEL_ENV = "../../envs/" + plan.method.conda_env


def log(name):
    return paths.log(name)


def run_log(name):
    return run_paths.log(name)
