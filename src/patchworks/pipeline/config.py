"""The workflow config: validation against the schema, with defaults filled in."""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import jsonschema
import yaml

from ..errors import ConfigError


def schema() -> dict[str, Any]:
    """The config schema (the same file the Snakefile validates with)."""
    return yaml.safe_load(resources.files("patchworks.pipeline").joinpath("config.schema.yaml").read_text())


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
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        key = ".".join(map(str, err.absolute_path)) or "(top level)"
        raise ConfigError(f"{key}: {err.message} (accepted: {describe(err.schema)})")
    low, high = config["filter"]["min_volume"], config["filter"]["max_volume"]
    if low is not None and high is not None and low > high:
        raise ConfigError(f"filter.min_volume: {low} is larger than filter.max_volume {high}, so every "
                          "object would be removed; give min_volume <= max_volume")
    return config


def describe(sub: dict[str, Any]) -> str:
    """A short phrase for what a schema node accepts."""
    if "enum" in sub:
        return "one of " + ", ".join(map(str, sub["enum"]))
    if "oneOf" in sub:
        return " or ".join(describe(s) for s in sub["oneOf"])
    if "const" in sub:
        return repr(sub["const"])
    parts = [str(sub.get("type", "value"))]
    if "minimum" in sub:
        parts.append(f">= {sub['minimum']}")
    if "maximum" in sub:
        parts.append(f"<= {sub['maximum']}")
    if sub.get("additionalProperties") is False:
        parts.append("with keys " + ", ".join(sub.get("properties", {})))
    if "pattern" in sub and "description" in sub:
        parts.append(f"({sub['description']})")
    return " ".join(parts)
