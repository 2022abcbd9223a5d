rule measure:
    """The object table: every tile's partial measurements (stage) combined through the relabel table;
    its seam check."""
    input:
        paths.cc,
    output:
        table=paths.objects,
        seams=paths.seams,
    log:
        log("measure"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "measure {output.table:q} {output.seams:q}"
