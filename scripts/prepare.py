from patchworks.rule import run

run(snakemake, "prepare")  # noqa: F821
