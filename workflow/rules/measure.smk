rule measure:
    """The object table: every tile's partial measurements (stage) combined through the relabel table."""
    input:
        plan.path("cc.json"),
    output:
        plan.objects_file,
    log:
        log("measure"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "measure {output:q}"
