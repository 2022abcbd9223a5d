rule publish:
    """Write the NGFF metadata and list the label image in the image's labels group."""
    input:
        cc=plan.path("cc.json"),
        tiles=expand(plan.path("relabel", "{tile}.json"), tile=TILES),
    output:
        plan.path("published.json"),
    log:
        log("publish"),
    conda:
        "../../envs/core.yaml"
    script:
        "../../scripts/publish.py"
