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


def ngff_attrs(ndim: int, levels: int) -> dict:
    """NGFF 0.5 multiscales of ``levels`` levels, 0.5 µm voxels, the last two axes halved per level."""
    names = "zyx"[-ndim:]
    axes = [{"name": n, "type": "space", "unit": "micrometer"} for n in names]
    datasets = [
        {"path": str(k), "coordinateTransformations": [
            {"type": "scale", "scale": [0.5 * (2**k if i >= ndim - 2 else 1) for i in range(ndim)]}]}
        for k in range(levels)
    ]
    return {"ome": {"version": "0.5", "multiscales": [{"axes": axes, "datasets": datasets}]}}


def write_image(path: str | Path, shape: tuple[int, ...], chunks: tuple[int, ...], levels: int = 1,
                data: bool = True) -> None:
    """An NGFF 0.5 image (axes z/y/x or y/x) of ``levels`` levels; level 0 filled with :func:`blobs`
    chunk by chunk (or left empty: metadata only), the lower levels empty."""
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    names = list("zyx"[-len(shape):])
    for k in range(levels):
        f = [2**k if i >= len(shape) - 2 else 1 for i in range(len(shape))]
        lshape = tuple(math.ceil(s / fi) for s, fi in zip(shape, f))
        level_chunks = tuple(min(c, s) for c, s in zip(chunks, lshape))
        arr = group.create_array(str(k), shape=lshape, chunks=level_chunks, dtype="uint16",
                                 dimension_names=names)
        if k == 0 and data:
            for index in itertools.product(*(range(math.ceil(s / c)) for s, c in zip(shape, chunks))):
                region = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, chunks, shape))
                arr[region] = blobs(region)
    group.attrs.put(ngff_attrs(len(shape), levels))
