"""Which Cellpose generation a weights file was trained with, read from the names of its tensors (the
checkpoint's pickle, not its tensors; no torch): Cellpose 4 (Cellpose-SAM) nets hold a transformer
``encoder.*`` and the readout ``W2``; Cellpose 3 nets a U-net ``downsample.*``. Cellpose 4 refuses
Cellpose 3 weights deep in a job ("CP3 models are not compatible with CP4"); Cellpose 3 cannot load
Cellpose 4's."""

from __future__ import annotations

import pickletools
import zipfile
from pathlib import Path

LEGACY_HEAD = 1 << 20  # bytes read of a checkpoint in torch's legacy format, whose pickle comes first


def tensor_names(path: str | Path) -> set[str]:
    """The strings of a torch checkpoint's pickle (its state dict's keys among them)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("data.pkl")]
            data = archive.read(pickles[0]) if pickles else b""
    else:
        with open(path, "rb") as fh:
            data = fh.read(LEGACY_HEAD)
    names: set[str] = set()
    try:
        for _, arg, _ in pickletools.genops(data):
            if isinstance(arg, str):
                names.add(arg.removeprefix("module."))  # saved from a DataParallel net
    except Exception:  # a legacy file's later pickles, cut at LEGACY_HEAD, or not a pickle at all
        pass
    return names


def generation(path: str | Path) -> int | None:
    """3 or 4 for Cellpose 3 or Cellpose 4 weights; None when the file is neither (not a checkpoint)."""
    names = tensor_names(path)
    if "W2" in names and any(n.startswith("encoder.") for n in names):
        return 4
    if any(n.startswith("downsample.") for n in names):
        return 3
    return None
