from patchworks.rule import run

run(snakemake, "pyramid_init")  # noqa: F821
