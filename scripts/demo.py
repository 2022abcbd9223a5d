from patchworks.rule import run

run(snakemake, "demo")  # noqa: F821
