rule cc:
    """Connected components of all pairs -> the relabel table (ids 1..N), less the size filter's removals."""
    input:
        stage=expand(plan.path("stage", "{tile}.json"), tile=TILES),
        faces=[plan.path("faces", f"{t}-{a}.npy") for t, a in FACES],
    output:
        plan.path("cc.json"),
    params:
        dtype=config["output"]["dtype"],
        filter=config["filter"],
    log:
        log("cc"),
    conda:
        "../../envs/core.yaml"
    script:
        "../../scripts/cc.py"

