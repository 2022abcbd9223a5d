rule measure:
    """The object table: every tile's partial measurements (stage) combined through the relabel table;
    its seam check."""
    input:
        plan.path("cc.json"),
    output:
        table=plan.objects_file,
        seams=plan.seams_file,
    log:
        log("measure"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "measure {output.table:q} {output.seams:q}"
