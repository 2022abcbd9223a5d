# Snakemake's own floor for patchworks' DAG: the same jobs and edges as the workflow's (prepare, a
# stage job per tile, a face job per tile face, cc, measure, label_image, pyramid, a relabel job per
# tile, publish, figures), each rule bare: one output, no params, log, resources or environment.
# benchmarks/run.py times `snakemake -n` of it beside ours. Config: shape and tile (lists of ints).
from patchworks.tiling.grid import TileGrid

grid = TileGrid(tuple(config["shape"]), tuple(config["tile"]), (0,) * len(config["tile"]))
TILES = range(grid.n_tiles)
FACES = [f"w/faces/{t}-{grid.neighbour(t, a)}" for t, a in grid.faces()]


wildcard_constraints:
    tile=r"\d+",
    neighbour=r"\d+",


rule all:
    input:
        "w/published",
        "w/figures",


rule prepare:
    output:
        "w/prepare",
    shell:
        "touch {output}"


rule stage:
    input:
        "w/prepare",
    output:
        "w/stage/{tile}",
    shell:
        "touch {output}"


rule faces:
    input:
        "w/stage/{tile}",
        "w/stage/{neighbour}",
    output:
        "w/faces/{tile}-{neighbour}",
    shell:
        "touch {output}"


rule cc:
    input:
        stage=lambda w: [f"w/stage/{t}" for t in TILES],
        faces=lambda w: FACES,
    output:
        "w/cc",
    shell:
        "touch {output}"


rule measure:
    input:
        "w/cc",
    output:
        "w/objects",
    shell:
        "touch {output}"


rule label_image:
    input:
        "w/cc",
    output:
        "w/label_image",
    shell:
        "touch {output}"


rule pyramid:
    input:
        "w/label_image",
    output:
        "w/pyramid",
    shell:
        "touch {output}"


rule relabel:
    input:
        "w/pyramid",
    output:
        "w/relabel/{tile}",
    shell:
        "touch {output}"


rule publish:
    input:
        cc="w/cc",
        objects="w/objects",
        tiles=lambda w: [f"w/relabel/{t}" for t in TILES],
    output:
        "w/published",
    shell:
        "touch {output}"


rule figures:
    input:
        "w/published",
    output:
        "w/figures",
    shell:
        "touch {output}"
