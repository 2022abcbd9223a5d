from patchworks.rule import run

run(snakemake, "cc")  # noqa: F821
