"""The object table: the stage jobs' per-tile partials combined through the relabel table.

One pass over the tiles' partial measurements (never over the image), accumulating per final object,
so memory grows with the number of objects (about 120 bytes each, 300 while the Parquet file is
written; plus one entry per extra tile an object spans), never with the largest id. The size filter
(``merged_voxels``) uses the same pass for voxel counts alone, before the filter is applied.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..io import atomic
from ..merge.relabel_table import RelabelTable
from .tile import TileMeasures, extremes, measured_dtype


def merged_voxels(table: RelabelTable, measure_files: Sequence[str | Path]) -> np.ndarray:
    """Voxel count of every object of ``table`` (index = id, 0 unused), summed over its tiles."""
    voxels = np.zeros(table.n_objects + 1, np.int64)
    for tile, path in enumerate(measure_files):
        ids = table.tile_lut(tile)[1:]
        counts = TileMeasures.load(path).count
        voxels += np.bincount(ids, weights=counts, minlength=len(voxels)).astype(np.int64)
    voxels[0] = 0
    return voxels


def size_filter(voxels: np.ndarray, voxel_volume: float, min_volume: float | None,
                max_volume: float | None) -> np.ndarray:
    """Ids (index into ``voxels``) of the objects whose volume lies outside [min_volume, max_volume]."""
    volume = voxels[1:] * voxel_volume
    out = np.zeros(len(volume), bool)
    if min_volume is not None:
        out |= volume < min_volume
    if max_volume is not None:
        out |= volume > max_volume
    return np.flatnonzero(out) + 1


@dataclass
class Geometry:
    """What turns voxel measurements into physical ones: the image level's spatial calibration."""

    axes: tuple[str, ...]
    scale: tuple[float, ...]
    translation: tuple[float, ...]
    unit: str | None

    @property
    def voxel_volume(self) -> float:
        return math.prod(self.scale)


def combine(table: RelabelTable, measure_files: Sequence[str | Path], dtype: np.dtype
            ) -> dict[str, np.ndarray]:
    """Per final object 1..N: voxels, coordinate sums, bounding box, intensity sum/min/max (of an
    image of ``dtype``), tiles."""
    n = table.n_objects + 1
    acc: dict[str, np.ndarray] = {}
    first_tile = np.full(n, -1, np.int32)
    extra_ids, extra_tiles = [], []
    dtype = measured_dtype(np.dtype(dtype))
    top, bottom = extremes(dtype)
    for tile, path in enumerate(measure_files):
        part = TileMeasures.load(path)
        if not acc:
            ndim = part.origin.size  # per axis, one row of n: ufunc.at is fast on 1-D arrays only
            acc = {"count": np.zeros(n, np.int64), "coord_sum": np.zeros((ndim, n), np.int64),
                   "bbox_start": np.full((ndim, n), np.iinfo(np.int64).max),
                   "bbox_stop": np.zeros((ndim, n), np.int64), "intensity_sum": np.zeros(n, np.float64),
                   "intensity_min": np.full(n, top, dtype), "intensity_max": np.full(n, bottom, dtype)}
        ids = table.tile_lut(tile)[1:]
        keep = ids > 0
        ids = ids[keep]
        np.add.at(acc["count"], ids, part.count[keep])
        for name, ufunc in (("coord_sum", np.add), ("bbox_start", np.minimum), ("bbox_stop", np.maximum)):
            for row, values in zip(acc[name], getattr(part, name)):
                ufunc.at(row, ids, values[keep])
        np.add.at(acc["intensity_sum"], ids, part.intensity_sum[keep])
        np.minimum.at(acc["intensity_min"], ids, part.intensity_min[keep])
        np.maximum.at(acc["intensity_max"], ids, part.intensity_max[keep])
        seen = first_tile[ids] >= 0
        first_tile[ids[~seen]] = tile
        if seen.any():  # objects met in an earlier tile: only those that cross a seam, so few
            spanning = np.unique(ids[seen])
            extra_ids.append(spanning)
            extra_tiles.append(np.full(len(spanning), tile, np.int32))
    out = {k: v[..., 1:].T for k, v in acc.items()}  # (n, ndim) for the per-axis rows
    ids = np.concatenate([np.arange(1, n), *extra_ids]).astype(np.int64)
    tiles = np.concatenate([first_tile[1:], *extra_tiles]).astype(np.int32)
    order = np.lexsort((tiles, ids))
    spans = np.bincount(ids, minlength=n)[1:]  # tiles per object
    out["tiles_offsets"] = np.concatenate([[0], np.cumsum(spans)]).astype(np.int32)
    out["tiles"] = tiles[order]
    return out


def object_table(acc: dict[str, np.ndarray], geometry: Geometry, label_dtype: str) -> Any:
    """The combined measurements as a pyarrow Table, one row per object, physical units where named."""
    import pyarrow as pa  # only the measure job and readers of the table need pyarrow

    count = acc["count"]
    n = len(count)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = acc["intensity_sum"] / count
        centroid = acc["coord_sum"] / count[:, None] if n else np.zeros((0, len(geometry.axes)))
    columns: dict[str, Any] = {"label": np.arange(1, n + 1, dtype=label_dtype), "voxels": count,
                               "volume": count * geometry.voxel_volume}
    for i, axis in enumerate(geometry.axes):
        columns[f"centroid_{axis}"] = centroid[:, i] * geometry.scale[i] + geometry.translation[i]
    for i, axis in enumerate(geometry.axes):
        columns[f"bbox_start_{axis}"] = acc["bbox_start"][:, i]
        columns[f"bbox_stop_{axis}"] = acc["bbox_stop"][:, i]
    columns |= {"intensity_mean": mean, "intensity_min": acc["intensity_min"],
                "intensity_max": acc["intensity_max"],
                "tiles": pa.ListArray.from_arrays(pa.array(acc["tiles_offsets"]), pa.array(acc["tiles"]))}
    unit = geometry.unit or "voxel"
    meta = {"axes": list(geometry.axes), "voxel_size": list(geometry.scale), "unit": geometry.unit,
            "volume_unit": f"{unit}^{len(geometry.axes)}", "centroid": f"physical ({unit}), voxel centres",
            "bbox": "voxels of level 0, start inclusive, stop exclusive"}
    table = pa.table(columns)
    return table.replace_schema_metadata({"patchworks": json.dumps(meta)})


def write_parquet(table: Any, path: str | Path) -> None:
    """Write ``table`` as Parquet, appearing only once complete (temp file + rename)."""
    import pyarrow.parquet as pq

    with atomic.replacing(path) as tmp:
        pq.write_table(table, tmp)


def stack_tables(parts: Sequence[tuple[dict[str, Any], str | Path]], path: str | Path) -> None:
    """One Parquet table at ``path`` of the object tables ``parts``, each a (leading columns, table file)
    pair: its rows get the leading columns' values (an image's id, a timepoint; None for a null). Columns
    missing from a part (a 2-D image's z) are null. Written a part at a time: memory is bounded by the
    largest part."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    leading: dict[str, Any] = {}
    for values, _ in parts:
        for name, value in values.items():
            if value is not None or name not in leading:
                leading[name] = pa.string() if isinstance(value, str) else pa.int64()
    fields = [pa.field(name, kind) for name, kind in leading.items()]
    schema = pa.unify_schemas([pa.schema(fields), *(pq.read_schema(p) for _, p in parts)],
                              promote_options="permissive")
    with atomic.replacing(path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for values, part in parts:
            table = pq.read_table(part)
            for i, field in enumerate(fields):
                column = pa.array([values.get(field.name)] * table.num_rows, field.type)
                table = table.add_column(i, field, column)
            for field in schema:
                if field.name not in table.column_names:
                    table = table.append_column(field, pa.nulls(table.num_rows, field.type))
            writer.write_table(table.select(schema.names).cast(schema))
