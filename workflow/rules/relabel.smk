rule relabel:
    """Apply the tile's slice of the table (cc's, via label_image); write its region of level 0."""
    input:
        plan.path("label_image.json"),
    output:
        plan.path("relabel", "{tile}.json"),
    log:
        log("relabel/{tile}"),
    conda:
        "../../envs/core.yaml"
    script:
        "../../scripts/relabel.py"
