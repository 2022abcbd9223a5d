"""The shipped demo: real DSB 2018 nuclei (from the stardist wheel) as a tiled OME-Zarr.

The 512 x 512 image is mirrored into a 2 x 2 mosaic (1024 x 1024), so nuclei continue across
the mirror seams and many are cut by tile borders.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.images import write_image
from ..io.ngff import Axis, ImageInfo

LEVELS = 3
AXES = "cyx"


def source_image() -> Path:
    """Path of stardist's bundled nuclei image, found without importing stardist."""
    spec = importlib.util.find_spec("stardist")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the demo image ships with the 'stardist' package: pip install 'patchworks[demo]'"
        )
    return Path(spec.submodule_search_locations[0]) / "data" / "images" / "img2d.tif"


def mosaic(image: np.ndarray) -> np.ndarray:
    return np.block([[image, image[:, ::-1]], [image[::-1], image[::-1, ::-1]]])


def build(store: str | Path) -> None:
    import tifffile  # only the demo job reads TIFF

    image = tifffile.imread(source_image())
    write_image(store, mosaic(image)[None], AXES, version="0.5", levels=LEVELS, chunks=(1, 256, 256))


def expected_info(store: str | Path, level: int) -> ImageInfo:
    """What :func:`build` will write, from the source's header alone (for parse time)."""
    import tifffile

    with tifffile.TiffFile(source_image()) as tif:
        shape, dtype = tif.series[0].shape, tif.series[0].dtype
    shapes = tuple((1, 2 * shape[0] // 2**k, 2 * shape[1] // 2**k) for k in range(LEVELS))
    if not 0 <= level < LEVELS:
        raise InputError(f"input.level: {level} is out of range; the demo image has levels 0..{LEVELS - 1}")
    f = float(2**level)
    return ImageInfo(
        store=str(store), version="0.5", zarr_format=3,
        axes=(Axis("c", "channel", None), Axis("y", "space", None), Axis("x", "space", None)),
        path=str(level), shape=shapes[level], dtype=np.dtype(dtype), scale=(1.0, f, f),
        translation=(0.0, 0.0, 0.0), level_shapes=shapes,
    )
