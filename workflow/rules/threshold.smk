rule threshold:
    """Otsu's threshold of the whole image, once, from a bounded sample."""
    input:
        paths.prepare,
    output:
        paths.threshold,
    params:
        statistics=config["statistics"],
    log:
        log("threshold"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "threshold {output:q}"
