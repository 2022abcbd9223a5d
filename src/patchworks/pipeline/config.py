"""The workflow config: what the user gave turned into the validated config, with defaults filled in.

One reader for all: the Snakefile (Snakemake's merged ``--configfile``s and ``--config``), every job
(the config its Snakemake exported), ``patchworks-status`` (the same files and overrides, read as
Snakemake reads them) and the Python API (the dict it builds from its arguments).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ..errors import ConfigError

#: The config the workflow runs when no config file is given: the shipped demo.
DEFAULT_FILE = "config/config.yaml"


@cache
def schema() -> dict[str, Any]:
    """The config schema (``workflow/schemas/config.schema.yaml``, packaged)."""
    return yaml.safe_load(resources.files("patchworks.pipeline").joinpath("config.schema.yaml").read_text())


@cache
def validator() -> Any:
    return _with_defaults(jsonschema.Draft202012Validator)(schema())


def _with_defaults(validator_class: type) -> Any:
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator: Any, properties: dict, instance: Any, schema: dict) -> Any:
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with defaults filled in; ConfigError naming the key if invalid."""
    config = copy.deepcopy(config)
    errors = sorted(validator().iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        key = ".".join(map(str, err.absolute_path)) or "(top level)"
        raise ConfigError(f"{key}: {err.message} (accepted: {describe(err.schema)})")
    inp = config["input"]
    if ("store" in inp) == bool(inp["sheet"]):
        raise ConfigError("input: give input.store (an image, a glob or an HCS plate) or input.sheet (a "
                          "sheet of images), " + ("not both" if inp["sheet"] else "one of them"))
    if inp["sheet"] and inp["demo"]:
        raise ConfigError("input.demo: the demo is one image; leave input.demo out with input.sheet")
    low, high = config["filter"]["min_volume"], config["filter"]["max_volume"]
    if low is not None and high is not None and low > high:
        raise ConfigError(f"filter.min_volume: {low} is larger than filter.max_volume {high}, so every "
                          "object would be removed; give min_volume <= max_volume")
    return config


def load_config(files: Sequence[str | Path] = (), overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The validated config of config ``files`` (merged in order) and ``KEY=VALUE`` ``overrides``, as
    Snakemake merges ``--configfile`` and ``--config`` (its own parser and merge); no files: the demo's."""
    from snakemake.cli import parse_config
    from snakemake.utils import update_config

    config: dict[str, Any] = {}
    for file in files or [DEFAULT_FILE]:
        update_config(config, yaml.safe_load(Path(file).read_text()) or {})
    update_config(config, parse_config(overrides))
    return validate_config(config)


def describe(sub: dict[str, Any]) -> str:
    """A short phrase for what a schema node accepts."""
    if "enum" in sub:
        return "one of " + ", ".join(map(str, sub["enum"]))
    if "oneOf" in sub:
        return " or ".join(describe(s) for s in sub["oneOf"])
    if "const" in sub:
        return repr(sub["const"])
    kind = sub.get("type", "value")
    parts = [" or ".join(kind) if isinstance(kind, list) else str(kind)]
    if "minimum" in sub:
        parts.append(f">= {sub['minimum']}")
    if "maximum" in sub:
        parts.append(f"<= {sub['maximum']}")
    if sub.get("additionalProperties") is False:
        parts.append("with keys " + ", ".join(sub.get("properties", {})))
    if "pattern" in sub and "description" in sub:
        parts.append(f"({sub['description']})")
    return " ".join(parts)
