# patchworks: segment an OME-Zarr image tile by tile and merge the labels globally.
# Steps: [demo] -> prepare -> [threshold] -> stage (per tile) -> faces (per tile face)
#        -> cc -> relabel (per tile) -> pyramid_init -> pyramid (per tile) -> publish
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")

include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/threshold.smk"
include: "workflow/rules/stage.smk"
include: "workflow/rules/faces.smk"
include: "workflow/rules/cc.smk"
include: "workflow/rules/relabel.smk"
include: "workflow/rules/pyramid.smk"
include: "workflow/rules/publish.smk"


rule all:
    default_target: True
    input:
        rules.publish.output,
