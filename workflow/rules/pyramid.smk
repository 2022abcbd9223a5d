rule pyramid_init:
    """Create the empty lower levels of the label image."""
    input:
        plan.path("label_image.json"),
    output:
        plan.path("pyramid.json"),
    params:
        pyramid=config["pyramid"],
    log:
        log("pyramid_init"),
    conda:
        "../../envs/core.yaml"
    script:
        "../../scripts/pyramid_init.py"


rule pyramid:
    """Downsample the tile's share of level 0 into every lower level."""
    input:
        plan.path("relabel", "{tile}.json"),
        plan.path("pyramid.json"),
    output:
        plan.path("pyramid", "{tile}.json"),
    params:
        pyramid=config["pyramid"],
    log:
        log("pyramid/{tile}"),
    conda:
        "../../envs/core.yaml"
    script:
        "../../scripts/pyramid.py"
