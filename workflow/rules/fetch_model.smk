# GPU nodes are often offline: a model named by the config is downloaded on the submit host.
localrules:
    fetch_model,


rule fetch_model:
    """Download the named model's weights into the method's cache, before any GPU job starts."""
    output:
        run_paths.model,  # one model for every image of the run
    params:
        method=rerun_params.method(plan),
    log:
        run_log("fetch_model"),
    conda:
        MODEL_ENV
    shell:
        RUN_JOB + "fetch_model {output:q}"
