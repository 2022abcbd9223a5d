# A run of many images: once every image is published, the experiment's tables and report page.
if experiment.many:

    localrules:
        experiment,

    PAGE = run_paths.experiment_report

    rule experiment:
        """One row per image, every image's objects in one table (with an image column), and the
        report's experiment page: objects and seam check per image, a gallery of the overviews."""
        input:
            published=expand(paths.published, image=IMAGES),
            series=expand(run_paths.series_published("{series}"), series=SERIES),
            overviews=expand(paths.report_files["overview"], image=IMAGES),
        output:
            images=report(run_paths.images_table, caption="../report/images.rst", category="Experiment"),
            objects=run_paths.objects,
            counts=report(PAGE["counts"], caption="../report/experiment.rst", category="Experiment"),
            gallery=report(PAGE["gallery"], caption="../report/gallery.rst", category="Experiment"),
        log:
            run_log("experiment"),
        conda:
            "../../envs/core.yaml"
        shell:
            RUN_JOB + "experiment {output.images:q} {output.objects:q} {output.counts:q} {output.gallery:q}"
