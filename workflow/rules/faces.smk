rule faces:
    """Label pairs touching across the face between a tile and its + neighbour along an axis."""
    input:
        lambda w: [plan.path("stage", f"{t}.json") for t in plan.face_tiles(int(w.tile), int(w.axis))],
    output:
        plan.path("faces", "{tile}-{axis}.npy"),
    params:
        connectivity=config["connectivity"],
        stitch=config["stitch"] | {"mode": plan.stitch},
    log:
        log("faces/{tile}-{axis}"),
    conda:
        "../../envs/core.yaml"
    script:
        "../../scripts/faces.py"
