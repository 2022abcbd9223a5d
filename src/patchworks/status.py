"""``patchworks-status [CONFIG]``: how many jobs of each step are done, failed or pending.

Reads only the per-job records and logs in the work directory, so it is cheap to run while a
run goes on (locally or on a cluster), next to Snakemake's own progress lines.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from .config import validate_config
from .plan import Plan

FAILED_MARK = "failed:"


def step_jobs(plan: Plan) -> dict[str, list[str]]:
    """Job names (record stems) of every per-tile or per-face step, and of the single steps."""
    tiles = [str(t) for t in range(plan.grid.n_tiles)]
    steps = {"stage": tiles, "faces": [f"{t}-{a}" for t, a in plan.grid.faces()],
             "relabel": tiles, "pyramid": tiles}
    if plan.needs_occupancy_job:
        steps = {"occupancy": tiles, **steps}
    return steps


def summarize(plan: Plan) -> dict[str, dict[str, Any]]:
    """Per step: counts of done / failed / pending jobs and the failed jobs' log paths."""
    out: dict[str, dict[str, Any]] = {}
    for step, names in step_jobs(plan).items():
        suffix = ".npy" if step == "faces" else ".json"
        done = {p.stem for p in Path(plan.path(step)).glob(f"*{suffix}")}
        failed = []
        for name in names:
            log = Path(plan.path("logs", step, f"{name}.log"))
            if name not in done and log.exists() and FAILED_MARK in log.read_text(errors="replace"):
                failed.append(str(log))
        n_done = len(done.intersection(names))
        out[step] = {"done": n_done, "failed": len(failed), "pending": len(names) - n_done - len(failed),
                     "failed_logs": failed}
    published = Path(plan.path("published.json"))
    out["publish"] = {"done": int(published.exists()), "failed": 0, "pending": int(not published.exists()),
                      "failed_logs": []}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="patchworks-status", description=__doc__.splitlines()[0])
    parser.add_argument("configfile", nargs="?", default="config/config.yaml",
                        help="the config file the run uses (default: the shipped demo config)")
    args = parser.parse_args(argv)
    plan = Plan(validate_config(yaml.safe_load(Path(args.configfile).read_text())))
    summary = summarize(plan)
    print(f"{'step':<10} {'done':>8} {'failed':>8} {'pending':>8}")
    for step, row in summary.items():
        print(f"{step:<10} {row['done']:>8} {row['failed']:>8} {row['pending']:>8}")
    for step, row in summary.items():
        for log in row["failed_logs"]:
            print(f"failed {step}: {log}")
    return 1 if any(row["failed"] for row in summary.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
