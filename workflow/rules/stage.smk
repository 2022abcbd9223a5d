from patchworks.pipeline.steps import tile_needs_gpu


rule stage:
    """Segment one tile with its halo; store its labels numbered 1..n."""
    input:
        prepare=paths.prepare,
        threshold=paths.threshold if plan.needs_threshold_job else [],
        normalization=paths.normalization if plan.needs_normalization_job else [],
        model=run_paths.model if plan.model_to_fetch else [],
        occupancy=paths.occupancy("{tile}") if plan.needs_occupancy_job else [],
    output:
        paths.stage_record("{tile}"),
        measures=paths.measures("{tile}"),
        planes=paths.planes("{tile}"),
    resources:
        # A GPU (on SLURM: the GPU partition) for GPU methods, unless the tile is known empty;
        # re-evaluated when the job is scheduled, once its occupancy record exists.
        gpu=(lambda w, input: tile_needs_gpu(input.get("occupancy"))) if plan.method.uses_gpu else 0,
    params:
        method=rerun_params.method(plan),
        tiling=each_image(rerun_params.tiling),
        connectivity=config["connectivity"],
        keeps_bands=plan.keeps_bands,
    log:
        log("stage/{tile}"),
    conda:
        MODEL_ENV
    shell:
        JOB + "stage --tile {wildcards.tile} --gpu {resources.gpu} --threshold={input.threshold:q} "
        "--normalization={input.normalization:q} {output[0]:q}"
