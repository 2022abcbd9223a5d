from patchworks.rule import run

run(snakemake, "relabel")  # noqa: F821
