rule occupancy:
    """On a CPU: is the tile empty? Then its stage job asks for no GPU (skip-empty + GPU method)."""
    input:
        prepare=paths.prepare,
        threshold=paths.threshold if plan.needs_threshold_job else [],
    output:
        paths.occupancy("{tile}"),
    params:
        tiling=each_image(rerun_params.tiling),
    log:
        log("occupancy/{tile}"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "occupancy --tile {wildcards.tile} --threshold={input.threshold:q} {output:q}"
