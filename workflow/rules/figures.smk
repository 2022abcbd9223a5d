FIGURES = paths.report_files
IMAGE = "{image}" if experiment.many else None  # the report's subcategory: one per image


rule figures:
    """The report's pictures of the result, the seam check and the run's config."""
    input:
        paths.published,
        paths.seams,
    output:
        overview=report(FIGURES["overview"], caption="../report/overview.rst", category="Result", subcategory=IMAGE),
        tiles=report(FIGURES["tiles"], caption="../report/tiles.rst", category="Result", subcategory=IMAGE),
        volumes=report(FIGURES["volumes"], caption="../report/volumes.rst", category="Result", subcategory=IMAGE),
        seams=report(FIGURES["seams"], caption="../report/seams.rst", category="Seam check", subcategory=IMAGE),
        seam_table=report(FIGURES["seam_table"], caption="../report/seams.rst", category="Seam check", subcategory=IMAGE),
        config=report(FIGURES["config"], caption="../report/config.rst", category="Run", subcategory=IMAGE),
    params:
        config=each_image(rerun_params.report_config),
    log:
        log("figures"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "figures"
