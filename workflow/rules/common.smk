# The run plan: config + input metadata -> tile grid, method and files (no image data is read here).
import os
import sys

from snakemake.settings.types import DeploymentMethod

from patchworks.errors import PatchworksError
from patchworks.pipeline import rerun_params  # the rules' params
from patchworks.pipeline.checks import check
from patchworks.pipeline.job import export_config
from patchworks.pipeline.plan import Plan
from patchworks.servers.process import announce_snakemake

plan = Plan(config)
paths = plan.paths  # every file of the run (patchworks.layout)
try:
    check(plan)  # the config against the image's metadata, before any job
    export_config(config)  # for the jobs: see the JOB command below
    announce_snakemake()  # for the jobs' servers: the process they serve
except PatchworksError as err:
    sys.exit(f"patchworks: config error: {err}")


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


# Every job runs one step: `python scripts/job.py --log LOG STEP [options] OUTPUT...`, with the
# interpreter of the rule's conda environment under --software-deployment-method conda, else
# Snakemake's own. The config reaches the job in the environment (export_config above;
# patchworks.pipeline.job says why).
PYTHON = "python" if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method else sys.executable
JOB_SCRIPT = os.path.join(workflow.basedir, "scripts", "job.py")
JOB = "{PYTHON:q} {JOB_SCRIPT:q} --log {log:q} "


# conda environment of segmentation (and model fetching): the method's own (envs/)
MODEL_ENV = "../../envs/" + plan.method.conda_env


def log(name):
    return paths.log(name)
