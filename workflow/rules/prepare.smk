# Local: with tile_shape "auto" the tiles are fixed here, on the submit host, and recorded.
localrules:
    prepare,


rule prepare:
    """Check the config against the image and create the empty stage store."""
    input:
        plan.input_marker,
    output:
        paths.prepare,
    params:
        input=config["input"],
        tile_shape=list(plan.grid.tile_shape),
    log:
        log("prepare"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "prepare --tile-shape {params.tile_shape} -- {output:q}"
