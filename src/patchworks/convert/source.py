"""A microscope file opened lazily: its header (metadata only) and a reader of spatial regions.

Every source is seen as a dask array of axes t, c, z, y, x (5-D) whose chunks are what its reader
reads at once (a plane for bioio's readers, an HDF5 chunk for Imaris); reading a region loads only
the chunks it touches, one after the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

AXES = "tczyx"
#: Where each format's reader comes from (for the message when it is missing).
READERS = {".czi": ("bioio-czi", "bioio"), ".lif": ("bioio-lif", "bioio"), ".nd2": ("bioio-nd2", "bioio"),
           ".ome.tif": ("bioio-ome-tiff", "bioio"), ".ome.tiff": ("bioio-ome-tiff", "bioio"),
           ".tif": ("bioio-tifffile", "bioio"), ".tiff": ("bioio-tifffile", "bioio"),
           ".ims": ("h5py", "imaris")}


@dataclass(frozen=True)
class Header:
    """What a file says about the chosen scene, read without its pixels."""

    path: str
    reader: str  # the package that reads it, e.g. bioio-ome-tiff
    scenes: tuple[str, ...]
    scene: int
    shape: tuple[int, int, int, int, int]  # t, c, z, y, x
    dtype: np.dtype
    voxel_size: tuple[float | None, float | None, float | None]  # z, y, x
    units: tuple[str | None, str | None, str | None]  # NGFF unit names, z, y, x
    channel_names: tuple[str, ...]


class Source:
    """A file's header and its pixels as a lazy 5-D (t, c, z, y, x) dask array."""

    def __init__(self, header: Header, data: Any) -> None:
        self.header = header
        self.data = data

    def read(self, t: int, c: int, region: tuple[slice, slice, slice]) -> np.ndarray:
        """The z, y, x ``region`` of timepoint ``t`` and channel ``c``, read chunk by chunk."""
        try:
            block = self.data[(t, c, *region)].compute(scheduler="synchronous")
        except Exception as err:
            raise InputError(
                f"input.store: {self.header.path}: reading t={t}, c={c}, "
                f"region {[f'{s.start}:{s.stop}' for s in region]} failed ({type(err).__name__}: {err}); "
                "the file is truncated or damaged (was it copied completely?)") from err
        return np.asarray(block)


def suffix(path: str | Path) -> str:
    """The format suffix, two parts for OME-TIFF (.ome.tif)."""
    name = Path(path).name.lower()
    for double in (".ome.tif", ".ome.tiff"):
        if name.endswith(double):
            return double
    return Path(name).suffix


def extra_hint(path: str | Path) -> str:
    """Which extra installs the reader of ``path``'s format."""
    package, extra = READERS.get(suffix(path), ("bioio-bioformats", "bioformats"))
    return f"pip install 'patchworks[{extra}]' (it brings {package})"


def is_microscope_file(path: str | Path) -> bool:
    """A regular file (OME-Zarr images are folders)."""
    return Path(path).is_file()


def choose_scene(path: str, scenes: tuple[str, ...], scene: int | str | None) -> int:
    """The index of ``scene`` (an index or a name) among ``scenes``; required when there are several."""
    listing = ", ".join(f"{i}: {name!r}" for i, name in enumerate(scenes))
    if scene is None:
        if len(scenes) > 1:
            raise InputError(f"input.scene: {path} holds {len(scenes)} scenes ({listing}); choose one "
                             "with input.scene (its index or name; patchworks convert --scene, "
                             "to_ome_zarr(scene=...))")
        return 0
    if isinstance(scene, int) and 0 <= scene < len(scenes):
        return scene
    if isinstance(scene, str) and scene in scenes:
        return scenes.index(scene)
    raise InputError(f"input.scene: {scene!r} is not a scene of {path}; it has {listing}")


def open_source(path: str | Path, scene: int | str | None = None) -> Source:
    """Open ``path`` lazily with the reader of its format; InputError naming the file, what is wrong
    and which extra to install."""
    path = str(path)
    if not Path(path).is_file():
        raise InputError(f"input.store: {path} does not exist; give an OME-Zarr image or a microscope file")
    if suffix(path) == ".ims":
        from .imaris import open_imaris

        return open_imaris(path, scene)
    from .bioio_source import open_bioio

    return open_bioio(path, scene)
