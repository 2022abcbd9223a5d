"""A sheet of images (``input.sheet``): a TSV or CSV file with a header row, one row per image,
validated against ``workflow/schemas/images.schema.yaml`` at parse time."""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ..errors import ConfigError

DELIMITERS = {".tsv": "\t", ".txt": "\t", ".csv": ","}
NUMBERS = ("channel", "timepoint", "level")  # integer columns (a scene may be an index or a name)


@cache
def row_schema() -> dict[str, Any]:
    return yaml.safe_load(resources.files(__package__).joinpath("images.schema.yaml").read_text())


@cache
def row_validator() -> Any:
    return jsonschema.Draft202012Validator(row_schema())


def read_sheet(path: str | Path) -> list[dict[str, Any]]:
    """The rows of the sheet at ``path``: only the cells given, numbers as numbers, each ``store`` resolved
    against the sheet's folder. ConfigError naming the line and column of the first bad cell."""
    path = Path(path)
    where = f"input.sheet: {path}"
    if path.suffix.lower() not in DELIMITERS:
        raise ConfigError(f"{where}: give a .tsv or .csv file (a header row, then one row per image)")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as err:
        raise ConfigError(f"{where} cannot be read ({err.strerror}); give the path of the sheet of images, "
                          "relative to the folder snakemake runs in") from err
    reader = csv.DictReader((line for line in lines if not line.startswith("#")),
                            delimiter=DELIMITERS[path.suffix.lower()])
    columns = row_schema()["properties"]
    header = [name.strip() for name in reader.fieldnames or []]
    if unknown := [name for name in header if name not in columns]:
        raise ConfigError(f"{where}: unknown column {unknown[0]!r}; the columns are {', '.join(columns)} "
                          "(image and store required), tab-separated in a .tsv, comma-separated in a .csv")
    rows, seen = [], {}
    for number, raw in enumerate(reader, start=2):
        cells = {k.strip(): v.strip() for k, v in raw.items() if k is not None and v and v.strip()}
        if None in raw:
            raise ConfigError(f"{where} line {number}: more cells than the header's {len(header)} columns")
        if not cells:
            continue
        row = {k: int(v) if (k in NUMBERS or k == "scene") and v.isdigit() else v for k, v in cells.items()}
        errors = sorted(row_validator().iter_errors(row), key=str)
        if errors:
            err = errors[0]
            column = err.absolute_path[0] if err.absolute_path else "(row)"
            raise ConfigError(f"{where} line {number} (image {row.get('image', '?')!r}), column {column}: "
                              f"{err.message}; {columns.get(column, {}).get('description', '')}".rstrip("; "))
        if row["image"] in seen:
            raise ConfigError(f"{where} line {number}: image {row['image']!r} is already on line "
                              f"{seen[row['image']]}; give every image its own id")
        seen[row["image"]] = number
        store = Path(row["store"]).expanduser()
        row["store"] = str(store if store.is_absolute() else path.parent / store)
        rows.append(row)
    if not rows:
        raise ConfigError(f"{where} lists no image; give a header row (image, store, ...), then one row each")
    return rows
