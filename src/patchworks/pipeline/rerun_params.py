"""What a job's output depends on, for its rule's ``params``: Snakemake reruns a job when one of them
changes (and only then: what changes no result, such as the method's ``server``, is left out). Keys
sorted: a rule's params compare as text, and the order of keys in a config file changes no result."""

from __future__ import annotations

import json
from typing import Any

from .plan import Plan


def tiling(plan: Plan) -> dict[str, Any]:
    """The tiling as resolved (tile shape and overlap in voxels): what a job's output depends on,
    whichever way it was given ("auto", memory_mb, object_diameter)."""
    tiling = plan.config["tiling"]
    return {"tile_shape": list(plan.grid.tile_shape), "overlap": list(plan.grid.overlap),
            "skip_empty": tiling["skip_empty"], "empty_threshold": tiling["empty_threshold"]}


def method(plan: Plan) -> dict[str, Any]:
    """The method section as a job's output depends on it: without ``server``, which only says
    where the stage jobs run their tiles. Keys sorted: a rule's params compare as text, and the
    order of keys in a config file changes no result."""
    method = {key: {k: v for k, v in value.items() if k != "server"} if isinstance(value, dict) else value
              for key, value in plan.config["method"].items()}
    return json.loads(json.dumps(method, sort_keys=True))


def report_config(plan: Plan) -> dict[str, Any]:
    """The run's config as the report shows it: defaults filled in, the tiling as resolved; without
    what changes no result once the tiling is fixed (output.overwrite, the method's server, the
    memory budgets and the object diameter that size tiles "auto"). Keys sorted: a rule's params
    compare as text."""
    out = {k: v for k, v in plan.config["output"].items() if k != "overwrite"}
    sizing = ("memory_mb", "gpu_memory_mb", "object_diameter")
    tiling = {**{k: v for k, v in plan.config["tiling"].items() if k not in sizing},
              "tile_shape": list(plan.grid.tile_shape), "overlap": list(plan.grid.overlap)}
    report = {**plan.config, "output": out, "tiling": tiling, "method": method(plan)}
    return json.loads(json.dumps(report, sort_keys=True))
