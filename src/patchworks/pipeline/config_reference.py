"""The config reference, generated from the schema (``workflow/schemas/config.schema.yaml``): every key
with its type, default and meaning, as ``config/README.md`` holds it (the Snakemake workflow catalog's
configuration page). A key without a description is an error, so the page cannot leave one out.

    python -m patchworks.pipeline.config_reference > config/README.md
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..errors import ConfigError
from .config import describe, schema

HEADER = """# Configuring patchworks

A run is configured by YAML files given to `--configfile` (several files compose: `--configfile
config/presets/nuclei-threshold.yaml my-images.yaml`, the later winning key by key) and single keys
given to `--config KEY=VALUE`. Without `--configfile`, the shipped demo (`config/config.yaml`) runs.
Presets for common jobs are in `config/presets/`; a sheet of many images (`input.sheet`) has its own
schema, `workflow/schemas/images.schema.yaml` (columns below, under *The sheet of images*).

Every key, generated from `workflow/schemas/config.schema.yaml` (`python -m
patchworks.pipeline.config_reference > config/README.md`); unknown keys are an error.
"""


def keys(node: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every key of a schema's object ``node``, depth first, with its dotted name."""
    for name, sub in node.get("properties", {}).items():
        key = f"{prefix}{name}"
        if "description" not in sub:
            raise ConfigError(f"{key}: the schema gives it no description; describe every key")
        yield key, sub
        if sub.get("type") == "object":
            yield from keys(sub, f"{key}.")


def table(node: dict[str, Any]) -> list[str]:
    rows = ["| key | accepts | default | meaning |", "|---|---|---|---|"]
    for key, sub in keys(node):
        bare = {k: v for k, v in sub.items() if k != "description"}  # describe() adds a pattern's meaning
        accepts = "a section" if sub.get("type") == "object" else describe(bare)
        default = json.dumps(sub["default"]) if "default" in sub and sub.get("type") != "object" else ""
        rows.append(f"| `{key}` | {cell(accepts)} | {cell(f'`{default}`' if default else '')} | "
                    f"{cell(sub['description'])} |")
    return rows


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown() -> str:
    from ..experiment.sheet import row_schema

    lines = [HEADER, "## The config", "", *table(schema()), "", "## The sheet of images (input.sheet)", "",
             row_schema()["description"], "", *table(row_schema()), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
