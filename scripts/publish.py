from patchworks.rule import run

run(snakemake, "publish")  # noqa: F821
