"""Files read through bioio (CZI, LIF, ND2, OME-TIFF, TIFF, ...): header, scenes, calibration."""

from __future__ import annotations

import importlib.util
import inspect
from typing import Any

from ..errors import InputError
from .source import READERS, Header, Source, choose_scene, extra_hint, suffix
from .units import ngff_unit

#: bioio reports pixel sizes in micrometers, except bioio-ome-tiff (the OME unit) and bioio-tifffile
#: for an uncalibrated TIFF (no unit).
MICROMETER = "micrometer"
#: bioio-tifffile converts these declared units to micrometers (and keeps other values as they are).
TIFFFILE_CONVERTS = {"picometer", "nanometer", "micrometer", "millimeter", "centimeter", "inch"}


def open_bioio(path: str, scene: int | str | None) -> Source:
    try:
        from bioio import BioImage
        from bioio_base.exceptions import UnsupportedFileFormatError
    except ImportError as err:
        raise InputError(f"input.store: {path} is a microscope file, but bioio is not installed: "
                         f"{extra_hint(path)}") from err
    try:
        plugin = BioImage.determine_plugin(path)
    except UnsupportedFileFormatError as err:
        raise InputError(unreadable(path, err)) from err
    if suffix(path) in (".tif", ".tiff", ".ome.tif", ".ome.tiff"):
        from .integrity import tiff_problem

        problem = tiff_problem(path)
        if problem:
            raise InputError(f"input.store: {path} is incomplete: {problem}; the file is truncated "
                             "(was it copied completely?)")
    reader = plugin.metadata.get_reader()
    params = inspect.signature(reader.__init__).parameters.values()
    takes_chunks = any(p.name == "chunk_dims" or p.kind is p.VAR_KEYWORD for p in params)
    kwargs = {"chunk_dims": ["Y", "X"]} if takes_chunks else {}  # read plane by plane
    try:
        image = BioImage(path, reader=reader, **kwargs)
        index = choose_scene(path, tuple(image.scenes), scene)
        image.set_scene(index)
        data = _data(path, image)
        return Source(_header(path, image, index, data), data)
    except InputError:
        raise
    except Exception as err:  # readers raise many types for a damaged file
        raise InputError(unreadable(path, err, plugin.entrypoint.name)) from err


def unreadable(path: str, err: Exception, reader: str | None = None) -> str:
    """Why ``path`` cannot be read: no reader for its format, or its reader fails on it."""
    package, _ = READERS.get(suffix(path), ("bioio-bioformats", "bioformats"))
    installed = reader or (package if importlib.util.find_spec(package.replace("-", "_")) else None)
    if installed is None:
        kind = suffix(path) or "these"
        return f"input.store: {path}: no installed reader reads {kind} files: {extra_hint(path)}"
    detail = (str(err).split(". ")[0] if str(err) else type(err).__name__)[:300]
    return (f"input.store: {path} cannot be read by {installed}: the file is truncated, damaged or not "
            f"a {suffix(path) or 'known'} file ({detail})")


def _data(path: str, image: Any) -> Any:
    dims = image.dims
    samples = getattr(dims, "S", 1) if "S" in dims.order else 1
    if samples > 1:  # RGB: the samples become the channels
        if dims.C > 1:
            raise InputError(f"input.store: {path} has {dims.C} channels of {samples} samples (RGB) each; "
                             "only one of the two can be converted")
        return image.get_image_dask_data("TSZYX", C=0)
    return image.get_image_dask_data("TCZYX")


def _header(path: str, image: Any, index: int, data: Any) -> Header:
    sizes = image.physical_pixel_sizes
    voxel = (sizes.Z, sizes.Y, sizes.X)
    units = tuple(u if v is not None else None for u, v in zip(_units(image, index), voxel))
    names = image.channel_names or []
    channels = data.shape[1]
    return Header(
        path=path, reader=type(image.reader).__module__.split(".")[0].replace("_", "-"),
        scenes=tuple(image.scenes), scene=index, shape=tuple(int(s) for s in data.shape),
        dtype=data.dtype, voxel_size=voxel, units=units,
        channel_names=tuple(str(n) for n in names) if len(names) == channels else
        tuple(f"Channel {c}" for c in range(channels)),
    )


def _units(image: Any, index: int) -> tuple[str | None, str | None, str | None]:
    module = type(image.reader).__module__
    if module.startswith("bioio_ome_tiff"):
        pixels = image.ome_metadata.images[index].pixels
        return tuple(ngff_unit(getattr(pixels, f"physical_size_{a}_unit", None)) for a in "zyx")
    if module.startswith("bioio_tifffile"):
        unit = _tiff_unit(image.reader._path)
        declared = MICROMETER if unit in TIFFFILE_CONVERTS else unit
        return (declared,) * 3
    return (MICROMETER,) * 3


def _tiff_unit(path: str) -> str | None:
    """The unit a plain (or ImageJ) TIFF declares for its pixel size."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if tif.is_imagej:
            return ngff_unit((tif.imagej_metadata or {}).get("unit"))
        tag = tif.pages[0].tags.get("ResolutionUnit")
        resunit = tag.value if tag is not None else tifffile.RESUNIT.NONE
    return {tifffile.RESUNIT.INCH: "inch", tifffile.RESUNIT.CENTIMETER: "centimeter",
            tifffile.RESUNIT.MILLIMETER: "millimeter", tifffile.RESUNIT.MICROMETER: "micrometer"}.get(resunit)
