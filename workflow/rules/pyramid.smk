# Local (the submit host): it creates empty arrays, metadata only (see label_image.smk).
localrules:
    pyramid,


rule pyramid:
    """Create the empty lower levels of the label pyramid; each relabel job fills its tile's share."""
    input:
        paths.label_image,
    output:
        paths.pyramid,
    params:
        pyramid=config["pyramid"],
    log:
        log("pyramid"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "pyramid {output:q}"
