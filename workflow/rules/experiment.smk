# A run of many images: once every image is published, the experiment's tables.
if experiment.many:

    localrules:
        experiment,

    rule experiment:
        """One row per image, and every image's objects in one table (with an image column)."""
        input:
            expand(paths.published, image=IMAGES),
        output:
            images=report(run_paths.images_table, caption="../report/images.rst", category="Experiment"),
            objects=run_paths.objects,
        log:
            run_log("experiment"),
        conda:
            "../../envs/core.yaml"
        shell:
            RUN_JOB + "experiment {output.images:q} {output.objects:q}"
