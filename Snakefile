# patchworks: segment an OME-Zarr image tile by tile and merge the labels globally.
# Steps: [demo] or [convert_init -> convert (per slab of tiles) -> convert_finish] (a microscope file)
#        -> prepare -> [fetch_model] [threshold] [normalization] [occupancy per tile]
#        -> stage (per tile) -> faces (per tile face)
#        -> cc -> measure (the object table), and label_image -> pyramid -> relabel (per tile: every
#        level) -> publish -> figures (the report's pictures)
import gc
import sys

from snakemake.utils import min_version

from patchworks.pipeline.config import validate_config
from patchworks.errors import ConfigError
from patchworks.pipeline.registry import rule_files
from patchworks.pipeline.status import failure_report
from patchworks.servers import bundle
from patchworks.servers import tile as tile_servers

min_version("9.0")

# Snakemake keeps some 20 KB of Python objects per job, none of them garbage, and Python's cyclic
# collector rescans them all each time they grow by a quarter: a fifth of a 10,000-tile dry run
# (docs/benchmarks.md). So the collector pauses while the DAG is built; onstart resumes it with the
# DAG's objects frozen, left out of the scheduler's collections. Every job is a process of its own.
gc.disable()


report: "workflow/report/workflow.rst"


# The shipped default (the demo) applies only when no --configfile is given, so a user's config
# file never inherits demo settings; --config KEY=VALUE still overrides single keys of either.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


try:  # the one config reader (patchworks.pipeline.config): defaults filled in, or one line naming the key
    config.update(validate_config(config))
except ConfigError as err:
    sys.exit(f"patchworks: config error: {err}")

include: "workflow/rules/common.smk"


for rule_file in rule_files():  # one per step (patchworks.pipeline.registry), in the steps' order

    include: f"workflow/rules/{rule_file}.smk"


rule all:
    default_target: True
    input:
        # many images: each one's labels and pictures, and the experiment's tables; one: its own
        [rules.experiment.output, expand(rules.figures.output, image=IMAGES)]
        if experiment.many
        else [rules.publish.output, rules.figures.output],


# A bundle of stage jobs in one SLURM job (profiles/stage-bundles): the bundle's tile server starts
# here, in the Snakemake process that runs the bundle, and serves each of its tiles.
bundle.serve(config, sys.argv)


onstart:
    gc.freeze()
    gc.enable()


onsuccess:
    tile_servers.stop(config)  # this run's tile servers on this host, if any: idle now


onerror:
    # one summary of the failed tiles and jobs, their errors and logs (read from the work directory)
    print(failure_report(experiment), file=sys.stderr)
    tile_servers.stop(config)
