# The run plan: config + input metadata -> tile grid and paths (no image data is read here).
import sys

from patchworks.errors import PatchworksError
from patchworks.pipeline.plan import Plan

plan = Plan(config)
try:
    plan.validate()
except PatchworksError as err:
    sys.exit(f"patchworks: config error: {err}")

TILES = range(plan.grid.n_tiles)
FACES = plan.grid.faces()


wildcard_constraints:
    tile=r"\d+",
    axis=r"\d+",


# conda environment of segmentation (and model fetching): the method's own (envs/)
MODEL_ENV = {
    "cellpose": "../../envs/cellpose-gpu.yaml",
    "stardist": "../../envs/stardist-gpu.yaml",
}.get(config["method"]["name"], "../../envs/core.yaml")


def log(name):
    return plan.path("logs", name + ".log")
