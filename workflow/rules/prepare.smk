rule prepare:
    """Check the config against the image and create the empty stage store."""
    input:
        plan.input_marker,
    output:
        plan.path("prepare.json"),
    params:
        input=config["input"],
        tile_shape=config["tiling"]["tile_shape"],
    log:
        log("prepare"),
    script:
        "../../scripts/prepare.py"
