rule normalization:
    """The image's intensity percentiles, once, from a bounded sample: every tile is scaled alike."""
    input:
        plan.path("prepare.json"),
    output:
        plan.path("normalization.json"),
    params:
        statistics=config["statistics"],
    log:
        log("normalization"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "normalization {output:q}"
