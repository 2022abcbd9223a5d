"""Reading Snakemake's log: which jobs a run started and which it finished."""

import re

# a job's block: "rule <name>:" then its fields, 4 spaces deeper (a group job's blocks are indented)
JOB = re.compile(r"^( *)(?:local)?rule (\w+):\n((?:\1    .*\n)*)", re.M)
FINISHED = re.compile(r"^Finished jobid: (\d+) ", re.M)


def started_jobs(output: str) -> dict[str, str]:
    """jobid -> job as ``rule`` or ``rule[wildcards]``, for every job the run started."""
    jobs = {}
    for _, rule, body in JOB.findall(output):
        wildcards = re.search(r"^ +wildcards: (.*)$", body, re.M)
        jobid = re.search(r"^ +jobid: (\d+)$", body, re.M)
        jobs[jobid.group(1) if jobid else rule] = f"{rule}[{wildcards.group(1)}]" if wildcards else rule
    return jobs


def jobs_run(output: str) -> set[str]:
    """Every job the run started, as ``rule`` or ``rule[wildcards]``."""
    return set(started_jobs(output).values())


def jobs_finished(output: str) -> set[str]:
    """Every job the run finished (Snakemake logs this after recording the job as complete)."""
    started = started_jobs(output)
    return {started[jobid] for jobid in FINISHED.findall(output)}
