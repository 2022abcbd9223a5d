rule cc:
    """Connected components of all pairs -> the relabel table (ids 1..N), less the size filter's removals."""
    input:
        stage=[plan.stage_record(t) for t in TILES],
        faces=[plan.face_file(t, a) for t, a in FACES],
    output:
        plan.path("cc.json"),
    params:
        dtype=config["output"]["dtype"],
        filter=config["filter"],
    log:
        log("cc"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "cc {output:q}"

