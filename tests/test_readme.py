"""Every shell command the README shows runs as written.

The commands are read from the README itself (its ``bash`` blocks and inline ``.venv/bin/...``
commands), so a command added there is either run here, in a sandbox holding the repository's
files, or must be named below with the test that runs it. ``my.yaml`` is the README's example
config, pointed at a small image.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from runs import REPO, make_image

README = (REPO / "README.md").read_text()
# commands that run elsewhere, by what they contain -> where
ELSEWHERE = {
    "--profile slurm": "tests/test_slurm.py (a real one-node SLURM)",
    "~/.config/snakemake": "tests/test_slurm.py (the README's install step, verbatim)",
    '.venv/bin/pip install -e ".[slurm]"': "tests/test_slurm.py (its environment)",
    ".venv/bin/pytest": ".ci/run (the README's test command, verbatim), and this very suite",
    "python benchmarks/": "benchmarks: minutes of a 1 Gvoxel image, by hand (docs/benchmarks.md)",
}
INSTALL = re.compile(r"^python3 -m venv \.venv && \.venv/bin/pip install -e \"\.\[\w+\]\" && ")


def readme_commands() -> list[str]:
    """The shell commands of the README, in order: lines of its bash blocks (comments dropped) and
    inline commands run from the virtual environment or with python."""
    found = []
    for block in re.findall(r"^ *```bash\n(.*?)^ *```", README, re.S | re.M):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line:
                found.append(line)
    found += re.findall(r"`((?:\.venv/bin/|python )[^`]+)`", README)
    return list(dict.fromkeys(found))


def where_else(command: str) -> str | None:
    return next((place for key, place in ELSEWHERE.items() if key in command), None)


def runnable(command: str) -> str:
    """The part of a command to run here: the quick start's install is what this environment did."""
    return INSTALL.sub("", command)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's files (linked) and this environment as ``.venv``, so that relative paths
    and outputs stay in a fresh folder; ``my.yaml`` is the README's config on a small image."""
    box = tmp_path_factory.mktemp("readme")
    for name in ("Snakefile", "workflow", "scripts", "config", "profiles", "envs", "src"):
        (box / name).symlink_to(REPO / name)
    (box / ".venv").symlink_to(sys.prefix)
    example = next(yaml.safe_load(b) for b in re.findall(r"^```yaml\n(.*?)^```", README, re.S | re.M)
                   if "input:" in b)
    make_image(box / "embryo.ome.zarr", "czyx", (16, 64, 64), channels=2, seed=11, levels=4)
    example["input"]["store"] = str(box / "embryo.ome.zarr")
    example["workdir"] = str(box / "patchworks-work-own")
    example["tiling"]["tile_shape"] = [8, 32, 32]  # the README's [64, 1024, 1024] for a small image
    (box / "my.yaml").write_text(yaml.safe_dump(example, sort_keys=False))
    return box


def test_every_command_is_run_here_or_elsewhere() -> None:
    commands = readme_commands()
    assert len(commands) >= 10, commands
    for command in commands:
        place = where_else(command)
        assert place or command.startswith((".venv/bin/", "python3 -m venv")), command
    ci = (REPO / ".ci" / "run").read_text()
    test_command = next(c for c in commands if c.endswith(".venv/bin/pytest"))
    assert test_command in ci
    slurm = (REPO / "tests" / "test_slurm.py").read_text()
    assert next(c for c in commands if "~/.config/snakemake" in c) in slurm


def test_readme_commands_run_as_written(sandbox: Path) -> None:
    """In README order: the quick start's demo run, then the commands on my.yaml; each exits 0, and
    the demo's and my.yaml's labels are published."""
    commands = [c for c in readme_commands() if not where_else(c)]
    assert any("--configfile my.yaml --rerun-incomplete" in c for c in commands), commands
    for command in commands:
        run = subprocess.run(["bash", "-c", runnable(command)], cwd=sandbox, capture_output=True, text=True,
                             timeout=900)
        assert run.returncode == 0, f"{command}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    for work, name in (("patchworks-work", "nuclei"), ("patchworks-work-own", "nuclei")):
        published = json.loads((sandbox / work / name / "published.json").read_text())
        assert published["objects"] > 0, published
