"""Synthetic OME-Zarr images of any size, written chunk by chunk (bounded memory)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import zarr


def blobs(region: tuple[slice, ...], period: float = 37.0, seed: int = 0) -> np.ndarray:
    """A smooth field of round blobs that cross any tile border, plus noise, as uint16."""
    grids = np.meshgrid(*(np.arange(s.start, s.stop, dtype=np.float32) for s in region), indexing="ij")
    field = np.ones(grids[0].shape, dtype=np.float32)
    for i, g in enumerate(grids):
        field *= np.sin(g * (2 * np.pi / (period + 6 * i)))
    rng = np.random.default_rng([seed, *(s.start for s in region)])
    field += rng.normal(0, 0.15, field.shape).astype(np.float32)
    return np.clip(1000 + 800 * field, 0, 65535).astype(np.uint16)


def write_blob_image(path: str | Path, shape: tuple[int, ...], chunk: int = 512) -> None:
    """An NGFF 0.5 image (axes z/y/x or y/x, 0.5 µm pixels) filled with :func:`blobs`."""
    names = "zyx"[-len(shape):]
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    chunks = tuple(min(chunk, s) for s in shape)
    arr = group.create_array("0", shape=shape, chunks=chunks, dtype="uint16", dimension_names=list(names))
    for index in itertools.product(*(range(math.ceil(s / c)) for s, c in zip(shape, chunks))):
        region = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, chunks, shape))
        arr[region] = blobs(region)
    axes = [{"name": n, "type": "space", "unit": "micrometer"} for n in names]
    group.attrs.put({"ome": {"version": "0.5", "multiscales": [{"axes": axes, "datasets": [
        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [0.5] * len(shape)}]}]}]}})
