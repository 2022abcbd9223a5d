from patchworks.rule import run

run(snakemake, "pyramid")  # noqa: F821
