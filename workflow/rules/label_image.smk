# Local (the submit host, never a SLURM job), as pyramid and publish are: it writes metadata only,
# seconds of work that a cluster's queue wait would multiply, on the path to the result.
localrules:
    label_image,


# The per-tile jobs after cc depend on this one-input job, not on cc.json: Snakemake checks each
# consumer's file against its producer's whole input list, which for cc grows with the tiles.
rule label_image:
    """Claim the output location and (re)create level 0 of the label image, unlisted."""
    input:
        paths.cc,
    output:
        paths.label_image,
    params:
        dtype=config["output"]["dtype"],
        store=each_image(lambda p: p.config["output"]["store"]),
    log:
        log("label_image"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "label_image {output:q}"
