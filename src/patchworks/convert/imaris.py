"""Imaris .ims files (HDF5) read with h5py, in Imaris' layout: ``DataSet/ResolutionLevel 0/TimePoint
t/Channel c/Data`` (z, y, x, padded to whole blocks), sizes, extents and unit in
``DataSetInfo/Image``, channel names in ``DataSetInfo/Channel c``. Attributes are arrays of
one-byte strings."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from .source import Header, Source, choose_scene, extra_hint
from .units import ngff_unit

LEVEL0 = "DataSet/ResolutionLevel 0"


def attr(node: Any, name: str, default: str | None = None) -> str | None:
    """An Imaris attribute as text (stored as an array of single bytes, or as one string)."""
    if name not in node.attrs:
        return default
    value = node.attrs[name]
    if isinstance(value, np.ndarray):
        return b"".join(np.atleast_1d(value).astype("S")).decode("utf-8", "replace")
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class ImarisArray:
    """The (t, c, z, y, x) pixels of resolution level 0, read region by region from the HDF5 file."""

    def __init__(self, path: str, shape: tuple[int, ...], dtype: np.dtype, chunks: tuple[int, ...]) -> None:
        self.path, self.shape, self.dtype, self.chunks = path, shape, dtype, chunks
        self.ndim = 5

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        import h5py

        key = tuple(slice(*k.indices(n)[:2]) for k, n in zip(key, self.shape))
        out = np.empty(tuple(k.stop - k.start for k in key), dtype=self.dtype)
        with h5py.File(self.path, "r") as f:
            for i, t in enumerate(range(key[0].start, key[0].stop)):
                for j, c in enumerate(range(key[1].start, key[1].stop)):
                    out[i, j] = f[f"{LEVEL0}/TimePoint {t}/Channel {c}/Data"][key[2:]]
        return out


def open_imaris(path: str, scene: int | str | None) -> Source:
    try:
        import dask.array as da
        import h5py
    except ImportError as err:
        raise InputError(f"input.store: {path} is an Imaris file, but h5py is not installed: "
                         f"{extra_hint(path)}") from err
    try:
        with h5py.File(path, "r") as f:
            header, chunks = _header(path, f, scene)
    except InputError:
        raise
    except Exception as err:  # h5py: OSError for a truncated file, KeyError for a missing group
        raise InputError(f"input.store: {path} cannot be read as an Imaris file: it is truncated, damaged "
                         f"or not in Imaris' HDF5 layout ({type(err).__name__}: {err})") from err
    array = ImarisArray(path, header.shape, header.dtype, chunks)
    return Source(header, da.from_array(array, chunks=chunks, asarray=True, fancy=False, name=False))


def _header(path: str, f: Any, scene: int | str | None) -> tuple[Header, tuple[int, ...]]:
    index = choose_scene(path, ("Image",), scene)  # one image per file
    image = f["DataSetInfo/Image"]
    size = tuple(int(attr(image, k)) for k in "ZYX")
    level0 = f[LEVEL0]
    timepoints = sorted(k for k in level0 if k.startswith("TimePoint "))
    channels = sorted((k for k in level0[timepoints[0]] if k.startswith("Channel ")),
                      key=lambda k: int(k.split()[1]))
    data = level0[f"{timepoints[0]}/{channels[0]}/Data"]
    if any(d < s for d, s in zip(data.shape, size)):
        raise InputError(f"input.store: {path}: its data {data.shape} is smaller than the image "
                         f"size {size} it declares; the file is damaged")
    extent = [float(attr(image, f"ExtMax{i}")) - float(attr(image, f"ExtMin{i}")) for i in (2, 1, 0)]
    unit = ngff_unit(attr(image, "Unit"))
    names = tuple(attr(f[f"DataSetInfo/Channel {c}"], "Name", f"Channel {c}")
                  if f"DataSetInfo/Channel {c}" in f else f"Channel {c}" for c in range(len(channels)))
    header = Header(
        path=path, reader="h5py (Imaris)", scenes=("Image",), scene=index,
        shape=(len(timepoints), len(channels), *size), dtype=np.dtype(data.dtype),
        voxel_size=tuple(e / s for e, s in zip(extent, size)), units=(unit,) * 3, channel_names=names,
    )
    chunks = (1, 1, *(data.chunks or data.shape))
    return header, chunks
