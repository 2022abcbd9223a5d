# Local: with tile_shape "auto" the tiles are fixed here, on the submit host, and recorded.
localrules:
    prepare,


rule prepare:
    """Check the config against the image and create the empty stage store."""
    input:
        each_image(lambda p: p.input_marker),
    output:
        paths.prepare,
    params:
        input=each_image(lambda p: p.config["input"]),
        tile_shape=each_image(lambda p: list(p.grid.tile_shape)),
    log:
        log("prepare"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "prepare --tile-shape {params.tile_shape} -- {output:q}"
