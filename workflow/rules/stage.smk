from patchworks.methods import uses_gpu


rule stage:
    """Segment one tile with its halo; store its labels numbered 1..n."""
    input:
        prepare=plan.path("prepare.json"),
        threshold=plan.path("threshold.json") if plan.needs_threshold_job else [],
    output:
        plan.path("stage", "{tile}.json"),
    resources:
        gpu=1 if uses_gpu(config["method"]) else 0,  # GPU methods only: on SLURM, the GPU partition
    params:
        method=config["method"],
        tiling=config["tiling"],
        connectivity=config["connectivity"],
    log:
        log("stage/{tile}"),
    script:
        "../../scripts/stage.py"
