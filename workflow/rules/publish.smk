# Local (the submit host): NGFF metadata and one copy of the object table (see label_image.smk).
localrules:
    publish,


rule publish:
    """Place the object table beside the labels, write the NGFF metadata and list the label image."""
    input:
        cc=paths.cc,
        objects=paths.objects,
        tiles=lambda w: plan_of(w).relabel_records(),  # a function: see cc
    output:
        paths.published,
    log:
        log("publish"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "publish {output:q}"
