import sys

sys.path.append(f"{snakemake.scriptdir}/../src")  # noqa: F821  (patchworks inside a conda env, too)
from patchworks.pipeline.rule import run  # noqa: E402

run(snakemake, "measure")  # noqa: F821
