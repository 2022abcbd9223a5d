"""Checksums of written regions, so that damage to a finished label image can be found later."""

from __future__ import annotations

import zlib

import numpy as np


def digest(data: np.ndarray) -> str:
    """A checksum of an array's values (C order), shape and dtype: what the region it was written to
    must read back as. CRC-32 (a few GB/s), which finds lost or altered chunks."""
    data = np.ascontiguousarray(data)
    crc = zlib.crc32(f"{data.dtype.str}{data.shape}".encode())
    crc = zlib.crc32(memoryview(data).cast("B"), crc)
    return f"crc32:{crc:08x}"
