rule normalization:
    """The image's intensity percentiles, once, from a bounded sample: every tile is scaled alike."""
    input:
        paths.prepare,
    output:
        paths.normalization,
    params:
        statistics=config["statistics"],
    log:
        log("normalization"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "normalization {output:q}"
