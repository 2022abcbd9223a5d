"""Checksums of written regions, so that damage to a finished label image can be found later."""

from __future__ import annotations

import zlib
from collections.abc import Callable

import google_crc32c  # zarr's own dependency (its crc32c codec)
import numpy as np

# name -> crc(buffer, running value). CRC-32C is computed by the CPU's own instruction where
# google-crc32c has its C build (4x zlib's CRC-32 on a 512 MB tile); its pure-Python fallback takes
# 0.18 s per MB (1.5 min a 512 MB tile), so CRC-32 is the default there. A record names its own.
ALGORITHMS: dict[str, Callable[[object, int], int]] = {
    "crc32c": lambda data, crc: google_crc32c.extend(crc, data),
    "crc32": lambda data, crc: zlib.crc32(data, crc),
}
DEFAULT = "crc32c" if google_crc32c.implementation == "c" else "crc32"


def digest(data: np.ndarray, algorithm: str = DEFAULT) -> str:
    """A checksum of an array's values (C order), shape and dtype: what the region it was written to
    must read back as, named by its algorithm (``"crc32c:1a2b3c4d"``). It finds lost or altered chunks."""
    crc = ALGORITHMS[algorithm]
    values = np.ascontiguousarray(data).view()
    values.flags.writeable = False  # google-crc32c takes read-only buffers only; a view, no copy
    value = crc(values.reshape(-1).view(np.uint8), crc(f"{values.dtype.str}{values.shape}".encode(), 0))
    return f"{algorithm}:{value:08x}"


def matches(data: np.ndarray, recorded: str) -> bool:
    """Whether ``data`` has the checksum ``recorded``, computed with the algorithm the record names."""
    algorithm = recorded.partition(":")[0]
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown checksum {recorded!r}: this patchworks knows {', '.join(ALGORITHMS)}")
    return digest(data, algorithm) == recorded
