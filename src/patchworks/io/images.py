"""Writing small in-memory arrays as OME-Zarr images (demo data and tests)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BytesCodec


def write_image(
    path: str | Path,
    data: np.ndarray,
    axes: str,
    scale: tuple[float, ...] | None = None,
    unit: str | None = None,
    version: str = "0.5",
    levels: int = 1,
    chunks: tuple[int, ...] | None = None,
) -> None:
    """Write ``data`` (axes named by the letters of ``axes``, e.g. ``"czyx"``) as an NGFF image.

    Lower levels halve y and x by block means. ``version`` 0.4 writes zarr v2, 0.5 zarr v3. Big-endian
    ``data`` is stored big-endian: zarr v2 says so in the array's dtype, v3 in its bytes codec.
    The whole array is held in memory: this is for demo data and tests, not for big images.
    """
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    fmt = 3 if version == "0.5" else 2
    scale = tuple(scale or (1.0,) * data.ndim)
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt)
    datasets = []
    level_data = data
    for level in range(levels):
        kwargs: dict[str, Any] = {"dimension_names": list(axes)} if fmt == 3 else {}
        if fmt == 3 and level_data.dtype.byteorder == ">":
            kwargs["serializer"] = BytesCodec(endian="big")
        arr = group.create_array(
            str(level), shape=level_data.shape, dtype=level_data.dtype,
            chunks=tuple(min(c, s) for c, s in zip(chunks or level_data.shape, level_data.shape)),
            **kwargs,
        )
        arr[...] = level_data
        factor = [2**level if a in "yx" else 1 for a in axes]
        datasets.append({"path": str(level), "coordinateTransformations": [
            {"type": "scale", "scale": [s * f for s, f in zip(scale, factor)]}]})
        level_data = _halve_yx(level_data, axes)
    ax_meta = []
    for a in axes:
        kind = {"c": "channel", "t": "time"}.get(a, "space")
        entry: dict[str, str] = {"name": a, "type": kind}
        if kind == "space" and unit:
            entry["unit"] = unit
        ax_meta.append(entry)
    ms: dict[str, Any] = {"axes": ax_meta, "datasets": datasets, "name": path.stem}
    if version == "0.4":
        group.attrs.put({"multiscales": [{"version": "0.4", **ms}]})
    else:
        group.attrs.put({"ome": {"version": "0.5", "multiscales": [ms]}})


def _halve_yx(data: np.ndarray, axes: str) -> np.ndarray:
    out = data.astype(np.float64)
    for i, a in enumerate(axes):
        if a in "yx" and out.shape[i] > 1:
            n = out.shape[i] // 2 * 2
            out = np.take(out, range(n), axis=i)
            out = (np.take(out, range(0, n, 2), axis=i) + np.take(out, range(1, n, 2), axis=i)) / 2
    return out.astype(data.dtype)
