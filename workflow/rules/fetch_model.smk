# GPU nodes are often offline: a model named by the config is downloaded on the submit host.
localrules:
    fetch_model,


rule fetch_model:
    """Download the named model's weights into the method's cache, before any GPU job starts."""
    output:
        paths.model,
    params:
        method=rerun_params.method(plan),
    log:
        log("fetch_model"),
    conda:
        MODEL_ENV
    shell:
        JOB + "fetch_model {output:q}"
