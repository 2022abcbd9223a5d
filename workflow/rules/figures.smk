FIGURES = paths.report_files


rule figures:
    """The report's pictures of the result, the seam check and the run's config."""
    input:
        paths.published,
        paths.seams,
    output:
        overview=report(FIGURES["overview"], caption="../report/overview.rst", category="Result"),
        tiles=report(FIGURES["tiles"], caption="../report/tiles.rst", category="Result"),
        volumes=report(FIGURES["volumes"], caption="../report/volumes.rst", category="Result"),
        seams=report(FIGURES["seams"], caption="../report/seams.rst", category="Seam check"),
        seam_table=report(FIGURES["seam_table"], caption="../report/seams.rst", category="Seam check"),
        config=report(FIGURES["config"], caption="../report/config.rst", category="Run"),
    params:
        config=rerun_params.report_config(plan),
    log:
        log("figures"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "figures"
