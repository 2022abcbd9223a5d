"""Is a TIFF complete? A truncated TIFF loses its last pages silently (the reader sees fewer planes),
so the planes it declares and the bytes its pages point to are checked against the file (metadata only)."""

from __future__ import annotations

import logging
import math
import os
import re
from typing import Any


class _Complaints(logging.Handler):
    """tifffile's own reports of offsets past the end of the file (it logs them and reads on)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "offset" in message or "corrupt" in message:
            self.messages.append(message)


def tiff_problem(path: str) -> str | None:
    """What is missing from the TIFF at ``path``, or None when every declared plane is there."""
    import tifffile

    complaints = _Complaints()
    logger = logging.getLogger("tifffile")
    logger.addHandler(complaints)
    try:
        problem = _problem(path, tifffile)
    except tifffile.TiffFileError as err:
        problem = f"tifffile cannot parse it ({err})"
    finally:
        logger.removeHandler(complaints)
    if problem is None and complaints.messages:
        problem = f"it points past its end ({complaints.messages[0]})"
    return problem


def _problem(path: str, tifffile: Any) -> str | None:
    size = os.path.getsize(path)
    with tifffile.TiffFile(path) as tif:
        found = sum(math.prod(s.shape) for s in tif.series)
        declared = _declared_voxels(tif)
        if declared and found < declared:
            return (f"it declares {declared} voxels but holds only {found} ({len(tif.pages)} readable "
                    "pages)")
        for series in tif.series:
            for page in series.pages:
                if page is None:
                    return "a page of the image is missing"
                end = max((o + n for o, n in zip(page.dataoffsets, page.databytecounts)), default=0)
                if end > size:
                    return f"its pixels reach byte {end} but the file has {size}"
    return None


def _declared_voxels(tif: Any) -> int | None:
    """Voxels the file's own metadata announces (OME-XML, tifffile's shape, ImageJ's image count)."""
    if tif.is_ome and tif.ome_metadata:
        sizes = re.findall(r"<Pixels\b([^>]*)>", tif.ome_metadata)
        total = 0
        for attrs in sizes:
            get = dict(re.findall(r'(\w+)="([^"]*)"', attrs))
            total += math.prod(int(get.get(f"Size{a}", 1)) for a in "XYZCT")
        return total or None
    if tif.is_shaped and tif.shaped_metadata:
        return sum(math.prod(m.get("shape", ())) for m in tif.shaped_metadata if "shape" in m) or None
    if tif.is_imagej and tif.imagej_metadata:
        return int(tif.imagej_metadata.get("images", 1)) * math.prod(tif.pages.first.shape)
    return None
