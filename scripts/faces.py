from patchworks.rule import run

run(snakemake, "faces")  # noqa: F821
