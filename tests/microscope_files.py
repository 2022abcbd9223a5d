"""Small microscope files written by the formats' own writers (tifffile, pylibCZIrw, h5py in Imaris'
HDF5 layout), with calibration and channel names, for the conversion tests."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import tifffile


def ome_tiff(path: Path, data: np.ndarray, axes: str, voxel: tuple[float, ...], unit: str = "µm",
             channel_names: list[str] | None = None) -> None:
    """An OME-TIFF (tifffile): ``voxel`` per spatial axis of ``axes`` (z, y, x order)."""
    meta: dict = {"axes": axes.upper()}
    for a, v in zip([a for a in "zyx" if a in axes], voxel):
        meta[f"PhysicalSize{a.upper()}"] = v
        meta[f"PhysicalSize{a.upper()}Unit"] = unit
    if channel_names:
        meta["Channel"] = {"Name": channel_names}
    tifffile.imwrite(path, data, ome=True, metadata=meta)


def two_scene_ome_tiff(path: Path, scenes: list[np.ndarray],
                       voxels: list[tuple[float, float, float]]) -> None:
    """One OME-TIFF holding two images (scenes), each z, y, x with its own calibration."""
    with tifffile.TiffWriter(path, ome=True) as tif:
        for data, (z, y, x) in zip(scenes, voxels):
            tif.write(data, metadata={"axes": "ZYX", "PhysicalSizeZ": z, "PhysicalSizeY": y,
                                      "PhysicalSizeX": x, "PhysicalSizeZUnit": "µm",
                                      "PhysicalSizeYUnit": "µm", "PhysicalSizeXUnit": "µm"})


def plain_tiff(path: Path, data: np.ndarray) -> None:
    """A TIFF without any metadata (no shape, no calibration), one page per plane."""
    tifffile.imwrite(path, data, metadata=None)


def imagej_tiff(path: Path, data: np.ndarray, voxel: tuple[float, float, float],
                unit: str = "micron") -> None:
    """An ImageJ hyperstack (z, y, x): pixel size in the resolution tags, z spacing and unit in ImageJ's
    own metadata."""
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / voxel[2], 1 / voxel[1]),
                     metadata={"axes": "ZYX", "spacing": voxel[0], "unit": unit})


def czi(path: Path, data: np.ndarray, voxel: tuple[float, float, float], channel_names: list[str]) -> None:
    """A CZI (pylibCZIrw, Zeiss' libCZI) of c, z, y, x; CZI stores the scaling in meters."""
    from pylibCZIrw import czi as pyczi

    with pyczi.create_czi(str(path), exist_ok=True) as f:
        for c in range(data.shape[0]):
            for z in range(data.shape[1]):
                f.write(data=data[c, z][..., None], plane={"C": c, "Z": z, "T": 0}, location=(0, 0))
        f.write_metadata(document_name=path.stem, channel_names=dict(enumerate(channel_names)),
                         scale_z=voxel[0] * 1e-6, scale_y=voxel[1] * 1e-6, scale_x=voxel[2] * 1e-6)


def _ims_attr(value: object) -> np.ndarray:
    return np.array(list(str(value)), dtype="S1")  # Imaris writes attributes as arrays of characters


def imaris(path: Path, data: np.ndarray, voxel: tuple[float, float, float], unit: str = "um",
           channel_names: list[str] | None = None, block: tuple[int, int, int] = (4, 8, 8)) -> None:
    """An Imaris 5.5 file (c, z, y, x) in Imaris' HDF5 layout, its data padded to whole blocks."""
    n_c, nz, ny, nx = data.shape
    with h5py.File(path, "w") as f:
        for k, v in {"ImarisDataSet": "ImarisDataSet", "ImarisVersion": "5.5.0",
                     "DataSetDirectoryName": "DataSet", "DataSetInfoDirectoryName": "DataSetInfo",
                     "ThumbnailDirectoryName": "Thumbnail"}.items():
            f.attrs[k] = _ims_attr(v)
        f.attrs["NumberOfDataSets"] = np.array([1], dtype=np.uint32)
        image = f.create_group("DataSetInfo/Image")
        extents = {"X": nx, "Y": ny, "Z": nz, "Unit": unit, "ExtMin0": 0, "ExtMin1": 0, "ExtMin2": 0,
                   "ExtMax0": nx * voxel[2], "ExtMax1": ny * voxel[1], "ExtMax2": nz * voxel[0]}
        for k, v in extents.items():
            image.attrs[k] = _ims_attr(v)
        for c in range(n_c):
            info = f.create_group(f"DataSetInfo/Channel {c}")
            info.attrs["Name"] = _ims_attr((channel_names or [f"Channel {c}"] * n_c)[c])
            info.attrs["Color"] = _ims_attr("1.000 1.000 1.000")
            group = f.create_group(f"DataSet/ResolutionLevel 0/TimePoint 0/Channel {c}")
            sizes = {"ImageSizeX": nx, "ImageSizeY": ny, "ImageSizeZ": nz, "ImageBlockSizeX": block[2],
                     "ImageBlockSizeY": block[1], "ImageBlockSizeZ": block[0],
                     "HistogramMin": int(data[c].min()), "HistogramMax": int(data[c].max())}
            for k, v in sizes.items():
                group.attrs[k] = _ims_attr(v)
            padded = [-(-s // b) * b for s, b in zip((nz, ny, nx), block)]
            d = group.create_dataset("Data", shape=padded, dtype=data.dtype, chunks=block, compression="gzip")
            d[:nz, :ny, :nx] = data[c]
            group.create_dataset("Histogram", data=np.histogram(data[c], 256)[0].astype(np.uint64))


def corrupt_imaris_chunk(path: Path, channel: int) -> None:
    """Garbage over a compressed chunk of an Imaris file's pixels (of ``channel``): the header still reads."""
    raw = bytearray(path.read_bytes())
    with h5py.File(path, "r") as f:
        data = f[f"DataSet/ResolutionLevel 0/TimePoint 0/Channel {channel}/Data"]
        offset = data.id.get_chunk_info(1).byte_offset
    raw[offset: offset + 64] = b"\xff" * 64
    path.write_bytes(bytes(raw))
