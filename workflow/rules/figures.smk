rule figures:
    """The report's pictures of the result, the seam check and the run's config."""
    input:
        plan.path("published.json"),
    output:
        overview=report(plan.report_path("overview.png"), caption="../report/overview.rst", category="Result"),
        tiles=report(plan.report_path("tiles.png"), caption="../report/tiles.rst", category="Result"),
        volumes=report(plan.report_path("volumes.png"), caption="../report/volumes.rst", category="Result"),
        seams=report(plan.report_path("seams.png"), caption="../report/seams.rst", category="Seam check"),
        seam_table=report(plan.report_path("seams.tsv"), caption="../report/seams.rst", category="Seam check"),
        config=report(plan.report_path("config.yaml"), caption="../report/config.rst", category="Run"),
    params:
        config=plan.report_config,
    log:
        log("figures"),
    conda:
        "../../envs/core.yaml"
    script:
        "../../scripts/figures.py"
