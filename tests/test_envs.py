"""envs/ (one conda environment per rule family) stays consistent with pyproject.toml, and every
rule names an environment that exists."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
FAMILIES = {"core.yaml": ["bioio", "imaris"], "cellpose-gpu.yaml": ["cellpose"],
            "cellpose-sam-gpu.yaml": ["cellpose-sam"], "stardist-gpu.yaml": ["stardist"]}


def pip_requirements(env: Path) -> list[str]:
    deps = yaml.safe_load(env.read_text())["dependencies"]
    return next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)


@pytest.mark.parametrize(("env", "extras"), FAMILIES.items())
def test_env_lists_pyproject_requirements(env: str, extras: list[str]) -> None:
    """Each environment installs exactly the package's dependencies plus its family's extras."""
    expected = PROJECT["dependencies"] + [r for e in extras for r in PROJECT["optional-dependencies"][e]]
    assert sorted(pip_requirements(REPO / "envs" / env)) == sorted(expected)


def test_every_rule_runs_in_an_existing_env() -> None:
    """Each rule with a job (a shell command) has a conda environment, and it is one of envs/."""
    rules = REPO / "workflow" / "rules"
    for smk in rules.glob("*.smk"):
        text = smk.read_text()
        assert text.count("shell:") == text.count("conda:"), smk.name
        for env in re.findall(r'"\.\./\.\./(envs/[\w.-]+)"', text + (rules / "common.smk").read_text()):
            assert (REPO / env).exists(), env
    assert sorted(p.name for p in (REPO / "envs").glob("*.yaml")) == sorted(FAMILIES)
