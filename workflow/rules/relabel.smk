rule relabel:
    """Apply the tile's slice of the table; write its region of level 0 and its share of every lower level."""
    input:
        paths.pyramid,
    output:
        paths.relabel_record("{tile}"),
    log:
        log("relabel/{tile}"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "relabel --tile {wildcards.tile} {output:q}"
