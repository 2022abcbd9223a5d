from patchworks.rule import run

run(snakemake, "occupancy")  # noqa: F821
