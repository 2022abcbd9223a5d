"""The project's reference files stay in step with what they describe: the config reference
(``config/README.md``) with the schema, the version the CLI reports with the package's, the licence file
with ``pyproject.toml``, and the changelog's format."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version

import pytest
from runs import REPO

import patchworks
from patchworks.errors import ConfigError
from patchworks.pipeline import config_reference
from patchworks.pipeline.config import schema


def test_config_readme_is_the_schema_as_generated() -> None:
    """Regenerate with ``python -m patchworks.pipeline.config_reference > config/README.md``."""
    assert (REPO / "config" / "README.md").read_text() == config_reference.markdown()
    listed = {key for key, _ in config_reference.keys(schema())}
    assert {"input.sheet", "tiling.gpu_memory_mb", "method.cellpose.model", "filter.min_volume"} <= listed


def test_an_undocumented_key_fails_the_reference() -> None:
    grown = {"type": "object", "properties": {**schema()["properties"], "colour": {"type": "string"}}}
    with pytest.raises(ConfigError, match="colour: the schema gives it no description"):
        list(config_reference.keys(grown))


def test_the_cli_reports_the_package_version() -> None:
    cli = subprocess.run([sys.executable, "-m", "patchworks.cli", "--version"], capture_output=True,
                         text=True)
    assert cli.stdout.strip() == f"patchworks {patchworks.__version__}"
    assert patchworks.__version__ == version("patchworks")  # pyproject.toml takes it from the package
    assert f"## {patchworks.__version__} - " in (REPO / "CHANGELOG.md").read_text()


def test_the_licence_file_is_the_one_pyproject_names() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert (REPO / "LICENSE").read_text().startswith("MIT License\n")
