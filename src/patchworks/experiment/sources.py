"""What one ``store`` holds: the files a glob matches, the fields of an HCS plate, the scenes of a file.
Metadata only."""

from __future__ import annotations

import glob
from pathlib import Path

from ..errors import ConfigError, InputError
from ..io.ngff import ome_attrs

DOUBLE_SUFFIXES = (".ome.zarr", ".ome.tiff", ".ome.tif")


def is_glob(store: str) -> bool:
    return glob.has_magic(store)


def glob_stores(pattern: str) -> list[str]:
    """The files and folders ``pattern`` matches, sorted."""
    found = sorted(glob.glob(str(Path(pattern).expanduser())))
    if not found:
        raise ConfigError(f"input.store: nothing matches {pattern!r}; check the pattern (relative to the "
                          "folder snakemake runs in), or give input.sheet")
    return found


def stem(path: str) -> str:
    """A file's name without its extension(s): ``a.ome.tiff`` and ``a.ome.zarr`` -> ``a``."""
    name = Path(path.rstrip("/")).name
    for suffix in DOUBLE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def _plate(store: str) -> dict | None:
    """An OME-Zarr HCS plate's ``plate`` metadata; None when ``store`` is not a plate."""
    if not Path(store).is_dir():
        return None
    try:
        return _ngff(store).get("plate")
    except InputError:  # not a zarr group: the image's reader says what is wrong
        return None


def is_plate(store: str) -> bool:
    """Whether ``store`` is an HCS plate (its own metadata only: no well is read)."""
    return _plate(store) is not None


def plate_fields(store: str) -> list[tuple[str, str]] | None:
    """Of an OME-Zarr HCS plate: every field of every well, as (``<row><column>_<field>``, its path), in
    the plate's order; None when ``store`` is not a plate."""
    if (plate := _plate(store)) is None:
        return None
    fields = []
    for well in plate.get("wells", []):
        row, column = well["path"].split("/")
        for image in _ngff(Path(store) / well["path"]).get("well", {}).get("images", []):
            fields.append((f"{row}{column}_{image['path']}", str(Path(store) / well["path"] / image["path"])))
    if not fields:
        raise InputError(f"input.store: the HCS plate {store} lists no field in its wells; check its "
                         "plate and well metadata")
    return fields


def _ngff(group: str | Path) -> dict:
    """A group's NGFF metadata (NGFF 0.4 in .zattrs, 0.5 under ``ome`` in zarr.json)."""
    import zarr

    try:
        return ome_attrs(zarr.open_group(str(group), mode="r").attrs.asdict())[0]
    except (FileNotFoundError, ValueError, KeyError) as err:
        raise InputError(f"input.store: {group} is not a zarr group ({err}); check the path") from err


def scenes(path: str) -> tuple[str, ...]:
    """The scene names of a microscope file (its header only)."""
    from ..convert.source import open_source

    return open_source(path, 0).header.scenes
