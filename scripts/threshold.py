from patchworks.rule import run

run(snakemake, "threshold")  # noqa: F821
