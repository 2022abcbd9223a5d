rule threshold:
    """Otsu's threshold of the whole image, once, from a bounded sample."""
    input:
        plan.path("prepare.json"),
    output:
        plan.path("threshold.json"),
    params:
        statistics=config["statistics"],
    log:
        log("threshold"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "threshold {output:q}"
