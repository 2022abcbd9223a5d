rule cc:
    """Connected components of all pairs -> the relabel table (ids 1..N), less the size filter's removals."""
    input:
        # functions, so that only the process that plans the cc job lists every tile's files; as lists
        # they were expanded while the workflow was parsed, in each SLURM job too (11 s at 100,000 tiles)
        stage=lambda w: plan_of(w).stage_records(),
        faces=lambda w: plan_of(w).face_files(),
    output:
        paths.cc,
    params:
        dtype=config["output"]["dtype"],
        filter=config["filter"],
    log:
        log("cc"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "cc {output:q}"

