from patchworks.rule import run

run(snakemake, "stage")  # noqa: F821
