from patchworks.rule import run

run(snakemake, "fetch_model")  # noqa: F821
