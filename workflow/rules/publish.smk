# Local (the submit host): NGFF metadata and one copy of the object table (see label_image.smk).
localrules:
    publish,


rule publish:
    """Place the object table beside the labels, write the NGFF metadata and list the label image."""
    input:
        cc=plan.path("cc.json"),
        objects=plan.objects_file,
        tiles=lambda w: plan.relabel_records(),  # a function: see cc
    output:
        plan.path("published.json"),
    log:
        log("publish"),
    conda:
        "../../envs/core.yaml"
    shell:
        JOB + "publish {output:q}"
