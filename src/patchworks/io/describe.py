"""``patchworks info``: what an OME-Zarr holds (levels, chunks, codecs) and its label images (with
their object counts), from metadata alone."""

from __future__ import annotations

from pathlib import Path

import zarr

from ..errors import InputError
from ..layout import OBJECTS_FILE
from .labels import OWNER_KEY
from .ngff import ImageInfo, listed_labels, ome_attrs, read_image_info


def codec_names(array: zarr.Array) -> str:
    """The array's codecs in order (filters, serializer, compressors), with their settings."""
    parts = []
    for codec in (*array.filters, *((array.serializer,) if array.serializer else ()), *array.compressors):
        meta = codec.to_dict() if hasattr(codec, "to_dict") else codec.get_config()  # zarr v3 / numcodecs
        config = {k: v for k, v in meta.get("configuration", meta).items() if k not in ("name", "id")}
        settings = ", ".join(f"{k}={v}" for k, v in config.items() if not isinstance(v, dict | list))
        parts.append(f"{meta.get('name', meta.get('id'))}({settings})")
    return " -> ".join(parts) or "none"


def array_lines(array: zarr.Array, name: str) -> list[str]:
    shards = f", shards {array.shards}" if getattr(array, "shards", None) else ""
    return [f"  {name}: shape {array.shape} {array.dtype}, chunks {array.chunks}{shards}, "
            f"codecs {codec_names(array)}"]


def image_lines(store: Path, info: ImageInfo) -> list[str]:
    axes = ", ".join(f"{a.name}{' (' + a.unit + ')' if a.unit else ''}" for a in info.axes)
    lines = [f"{store}: NGFF {info.version} image (zarr v{info.zarr_format}), {info.n_levels} level(s), "
             f"axes {axes}"]
    for level in range(info.n_levels):
        level_info = read_image_info(store, level)
        lines += array_lines(zarr.open_array(str(store / level_info.path), mode="r"), f"level {level}")
        lines[-1] += f", scale {list(level_info.scale)}"
    return lines


def label_lines(path: Path) -> list[str]:
    """One label image: its levels and object count (from our record or its table)."""
    group = zarr.open_group(str(path), mode="r")
    attrs = group.attrs.asdict()
    ngff, _ = ome_attrs(attrs)
    record = attrs.get(OWNER_KEY, {})
    objects = record.get("objects")
    table = path / OBJECTS_FILE
    if objects is None and table.exists():
        import pyarrow.parquet as pq

        objects = pq.ParquetFile(table).metadata.num_rows
    count = f"{objects} objects" if objects is not None else \
        "object count unknown (not written by patchworks)"
    where = f", table {table}" if table.exists() else ""
    datasets = ngff.get("multiscales", [{}])[0].get("datasets", [])
    axes = ", ".join(a["name"] for a in ngff.get("multiscales", [{}])[0].get("axes", []))
    lines = [f"label image {path.name}: {count}, {len(datasets)} level(s), axes {axes}{where}"]
    for k, dataset in enumerate(datasets):
        lines += array_lines(zarr.open_array(str(path / dataset["path"]), mode="r"), f"level {k}")
    return lines


def describe(store: str | Path) -> list[str]:
    """Lines describing the OME-Zarr at ``store`` and every label image listed in its ``labels``."""
    store = Path(store)
    try:
        lines = image_lines(store, read_image_info(store, 0))
    except InputError as err:
        if not (store / "labels").exists():
            raise
        lines = [f"{store}: no image here ({err}); its labels:"]
    labels = listed_labels(store)
    if not labels:
        lines.append("no label images listed")
    for path in labels:
        lines += label_lines(path)
    return lines
