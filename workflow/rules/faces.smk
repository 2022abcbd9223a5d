# A face job reads the boundary planes that the stage jobs of the face's two tiles kept (iou stitching:
# their overlap bands and staged labels); its inputs are those jobs' records, given as file patterns (an
# input function costs Snakemake far more per job). Touch stitching at connectivity > 1 reads the
# neighbours its widened plane reaches, too.
FACE_STAGES = (
    [paths.stage_record("{tile}"), paths.stage_record("{neighbour}")]
    if plan.faces_read_two_tiles
    else lambda w: [
        plan_of(w).paths.stage_record(t)
        for t in plan_of(w).face_tiles(int(w.tile), plan_of(w).grid.face_axis(int(w.tile), int(w.neighbour)))
    ]
)


rule faces:
    """Label pairs touching across the face between a tile and its + neighbour along an axis."""
    input:
        FACE_STAGES,
    output:
        paths.face("{tile}", "{neighbour}"),
    params:
        connectivity=config["connectivity"],
        stitch=config["stitch"] | {"mode": plan.stitch},
    log:
        log("faces/{tile}-{neighbour}"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "faces --tile {wildcards.tile} --neighbour {wildcards.neighbour} {output:q}"
