# A time series (input.timepoint: all): once each timepoint's labels are written, the series' one label
# image is published whole.
if experiment.series:
    SERIES = list(experiment.series)

    localrules:
        series,

    rule series:
        """Write the series' NGFF metadata (with its t axis) and object table (a t column); list it."""
        input:
            lambda w: [experiment.plan(image).paths.published for image in experiment.series[w.series]],
        output:
            run_paths.series_published("{series}"),
        log:
            run_log("series/{series}"),
        wildcard_constraints:
            series=r"[A-Za-z0-9._-]+",
        conda:
            "../../envs/core.yaml"
        shell:
            RUN_JOB + "series --series {wildcards.series} {output:q}"
else:
    SERIES = []
