"""Outputs that appear only once completely written (write to a temporary name, then rename)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s content to; renamed to ``path`` once the block ends well."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=1, sort_keys=True))


def write_text(path: str | Path, text: str) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text)


def save_npy(path: str | Path, array: np.ndarray) -> None:
    with replacing(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


def save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``.npz`` that ``np.load`` reads, deflated at level 1: on a tile's measurements (192 MB)
    5x faster than ``np.savez_compressed``'s level 6 (0.9 s vs 4.8 s) for 13 % more bytes."""
    with replacing(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(value), allow_pickle=False)


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def copy(src: str | Path, path: str | Path) -> None:
    """Copy the file ``src`` to ``path``, which appears only once complete: as a hard link where both
    lie on one file system that allows it (no bytes copied: our files are replaced whole, never
    written in place, so the two names cannot drift apart through us), else byte by byte."""
    with replacing(path) as tmp:
        try:
            os.link(src, tmp)
        except OSError:  # another file system (EXDEV), or one without hard links
            shutil.copyfile(src, tmp)
