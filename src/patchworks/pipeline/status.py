"""``patchworks-status [CONFIG...] [--config KEY=VALUE...] [--verify | --repair]``: how many jobs
of each step are done, failed, running or pending; for a run of many images, also each image's state.

Reads only the per-job records and logs in the work directory, so it is cheap to run while a
run goes on (locally or on a cluster), next to Snakemake's own progress lines. The same records
give the summary of failed jobs printed when a run ends with errors (``failure_report``).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from ..experiment.images import Experiment
from .config import load_config
from .plan import Plan
from .registry import STEPS
from .verify import verify

FAILURE = re.compile(r"^patchworks \w+ failed: (.+)$", re.M)  # written by rule.run


def step_jobs(plan: Plan) -> dict[str, list[str]]:
    """Job names (record stems) of every step with one job per tile, face or region in this run."""
    return {step.name: step.jobs(plan) for step in STEPS.values()
            if step.per not in ("run", "series", "experiment") and step.when(plan)}


def summarize(plan: Plan) -> dict[str, dict[str, Any]]:
    """Per step: counts of done / failed / running / pending jobs, and the logs of failed and of
    started-but-unfinished ("running") jobs. A job that died without a message (killed, out of
    memory or time) counts as running until its log says otherwise."""
    out: dict[str, dict[str, Any]] = {}
    for step, names in step_jobs(plan).items():
        done = {p.stem for p in Path(plan.paths.folder(step)).glob(f"*{STEPS[step].record}")}
        failed, running = [], []
        for name in names:
            log = Path(plan.paths.log(f"{step}/{name}"))
            if name in done or not log.exists():
                continue
            (failed if FAILURE.search(log.read_text(errors="replace")) else running).append(str(log))
        n_done = len(done.intersection(names))
        out[step] = {"done": n_done, "failed": len(failed), "running": len(running),
                     "pending": len(names) - n_done - len(failed) - len(running),
                     "failed_logs": failed, "running_logs": running}
    published = Path(plan.paths.published)
    out["publish"] = {"done": int(published.exists()), "failed": 0, "running": 0,
                      "pending": int(not published.exists()), "failed_logs": [], "running_logs": []}
    return out


def failure_message(log: str) -> str:
    """The error line a failed job wrote to its log (the last ``patchworks <step> failed: ...``)."""
    found = FAILURE.findall(Path(log).read_text(errors="replace"))
    return found[-1] if found else "(no message)"


def image_summaries(experiment: Experiment) -> dict[str | None, dict[str, dict[str, Any]]]:
    """``summarize`` of each image of the run (keyed by its id; None for a run of one image)."""
    if not experiment.many:
        return {None: summarize(experiment.plan(None))}
    return {image: summarize(experiment.plan(image)) for image in experiment.ids}


def image_state(summary: dict[str, dict[str, Any]]) -> str:
    """An image's state: published, failed (a job failed), running or pending."""
    if summary["publish"]["done"]:
        return "published"
    for state in ("failed", "running"):
        if any(row[state] for row in summary.values()):
            return state
    return "pending"


def failure_report(experiment: Experiment) -> str:
    """One summary of every failed or unfinished job of a run that has stopped: image, step, job, error,
    log."""
    lines = []
    for image, summary in image_summaries(experiment).items():
        where = f"{image}: " if image else ""
        for step, row in summary.items():
            for log in row["failed_logs"]:
                lines.append(f"  {where}{step} {Path(log).stem}: {failure_message(log)}\n    log: {log}")
            for log in row["running_logs"]:
                lines.append(f"  {where}{step} {Path(log).stem}: stopped without an error message (killed? "
                             f"out of memory or time: see the cluster's log of the job)\n    log: {log}")
    if not lines:
        return ""
    return (f"patchworks: {len(lines)} job(s) failed:\n" + "\n".join(lines) +
            "\nFix the cause, then run the same command again: only these jobs and those after them run.")


def parser() -> argparse.ArgumentParser:
    """The command line of ``patchworks-status`` (also ``patchworks status``)."""
    about = " ".join(__doc__.split("\n\n")[0].split())
    parser = argparse.ArgumentParser(prog="patchworks-status", description=about)
    parser.add_argument("configfile", nargs="*",
                        help="the config file(s) the run uses, as given to snakemake's --configfile "
                             "(default: the shipped demo config)")
    parser.add_argument("--config", nargs="+", default=[], metavar="KEY=VALUE",
                        help="the run's --config overrides, as given to snakemake")
    parser.add_argument("--verify", action="store_true",
                        help="re-read the label image and compare every tile with the checksum its jobs "
                             "recorded; name the damaged tiles (read only)")
    parser.add_argument("--repair", action="store_true",
                        help="--verify, and unlist the label image and forget the damaged tiles' jobs, so "
                             "that the same snakemake command rewrites exactly those tiles")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    experiment = Experiment(load_config(args.configfile, args.config), fresh=False)
    report, damaged = [], []
    if args.verify or args.repair:
        for plan in experiment.plans():
            lines, found = verify(plan, args.repair)
            report += [f"{plan.config['image']}: {line}" for line in lines] if experiment.many else lines
            damaged += found
    summaries = image_summaries(experiment)
    if experiment.many:
        print(f"{'image':<24} {'state':>10} {'tiles':>8} {'staged':>8}")
        for image, summary in summaries.items():
            stage = summary["stage"]
            tiles = sum(stage[k] for k in ("done", "failed", "running", "pending"))
            print(f"{image:<24} {image_state(summary):>10} {tiles:>8} {stage['done']:>8}")
        print()
    counts = ("done", "failed", "running", "pending", "failed_logs")
    totals: dict[str, dict[str, Any]] = {}
    for summary in summaries.values():
        for step, row in summary.items():
            total = totals.setdefault(step, {key: [] if key == "failed_logs" else 0 for key in counts})
            for key in counts:
                total[key] += row[key]
    print(f"{'step':<10} {'done':>8} {'failed':>8} {'running':>8} {'pending':>8}")
    for step, row in totals.items():
        print(f"{step:<10} {row['done']:>8} {row['failed']:>8} {row['running']:>8} {row['pending']:>8}")
    for step, row in totals.items():
        for log in row["failed_logs"]:
            print(f"failed {step}: {log}")
    if report:
        print("\n".join(report))
    return 1 if damaged or any(row["failed"] for row in totals.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
