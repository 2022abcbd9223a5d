from patchworks.rule import run

run(snakemake, "normalization")  # noqa: F821
