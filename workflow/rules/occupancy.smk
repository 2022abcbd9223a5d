rule occupancy:
    """On a CPU: is the tile empty? Then its stage job asks for no GPU (skip-empty + GPU method)."""
    input:
        prepare=plan.path("prepare.json"),
        threshold=plan.path("threshold.json") if plan.needs_threshold_job else [],
    output:
        plan.path("occupancy", "{tile}.json"),
    params:
        tiling=config["tiling"],
    log:
        log("occupancy/{tile}"),
    script:
        "../../scripts/occupancy.py"
