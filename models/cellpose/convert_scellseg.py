"""Turn the Cellpose-network weights shipped in the scellseg 0.1.8 sdist into a Cellpose 3 weights file.

scellseg (BSD-3-Clause, Zhejiang University; https://pypi.org/project/scellseg/0.1.8/) ships
``scellseg/assets/pretrained_models/cellpose``: a PyTorch state dict of the Cellpose residual U-Net
(CPnet, nbase [2, 32, 64, 128, 256], 3 outputs) whose keys scellseg renamed. This script maps them back
to Cellpose's names and adds the ``diam_mean``/``diam_labels`` entries, giving a file that
cellpose 3.x loads with ``CellposeModel(gpu=False, pretrained_model=<file>)``. Cellpose 4 (cpsam) cannot
load it: its network is a different architecture.

Either install scellseg without its heavy dependencies (tensorflow, PyQt5, an old pyqtgraph)::

    pip install --no-deps scellseg==0.1.8
    python models/cellpose/convert_scellseg.py /path/to/scellseg_cellpose3.pth

or read the weights straight from the downloaded sdist, installing nothing::

    pip download --no-deps scellseg==0.1.8 -d /tmp/sdist
    python models/cellpose/convert_scellseg.py /path/to/scellseg_cellpose3.pth \
        --source /tmp/sdist/scellseg-0.1.8.tar.gz

The conversion needs only torch; scellseg's own modules are never imported.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import os
import sys
import tarfile
import tempfile
from collections import OrderedDict
from pathlib import Path

import torch

SOURCE_PACKAGE = "scellseg"
SOURCE_RELPATH = ("assets", "pretrained_models", "cellpose")
# SHA-256 of the file in scellseg 0.1.8 (matches the wheel RECORD pip writes for the sdist).
SOURCE_SHA256 = "70885242cf9720cabd973fca8b014010e69609924b5f9fe007ae37198220b4e9"
# scellseg prefix -> Cellpose CPnet prefix; the first match wins.
KEY_PREFIXES: tuple[tuple[str, str], ...] = (
    ("extractor.", ""),
    ("tasker.base_bn.", "output.0."),
    ("tasker.base_conv.", "output.2."),
)
# Object diameter (pixels) the network was trained at; Cellpose rescales images by diam_mean / diameter.
DIAM_MEAN = 30.0
N_TENSORS = 313  # 311 network tensors + diam_mean + diam_labels


def find_source() -> Path:
    """Return the path of scellseg's Cellpose state dict, located without importing scellseg."""
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {SOURCE_PACKAGE!r} is not installed; run: pip install --no-deps scellseg==0.1.8"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location).joinpath(*SOURCE_RELPATH)
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no {'/'.join(SOURCE_RELPATH)} in the installed {SOURCE_PACKAGE} package")


def read_source(source: Path) -> bytes:
    """Return the bytes of scellseg's state dict from the file itself or from a scellseg sdist tarball."""
    if not tarfile.is_tarfile(source):
        return source.read_bytes()
    suffix = "/" + "/".join((SOURCE_PACKAGE, *SOURCE_RELPATH))
    with tarfile.open(source) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(suffix) and (fh := tar.extractfile(member)):
                return fh.read()
    raise FileNotFoundError(f"{source}: no member ending in {suffix}")


def rename_key(key: str) -> str:
    """Map one scellseg state-dict key to its Cellpose CPnet name."""
    for old, new in KEY_PREFIXES:
        if key.startswith(old):
            return new + key[len(old) :]
    raise KeyError(f"unexpected key in scellseg state dict: {key!r}")


def converted_state_dict(source: Path, *, check_hash: bool = True) -> OrderedDict[str, torch.Tensor]:
    """Read scellseg's weights from ``source`` (file or sdist); return them with Cellpose names/diameters."""
    data = read_source(source)
    if check_hash and (digest := hashlib.sha256(data).hexdigest()) != SOURCE_SHA256:
        raise ValueError(f"{source}: SHA-256 {digest} is not that of scellseg 0.1.8 ({SOURCE_SHA256})")
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    out: OrderedDict[str, torch.Tensor] = OrderedDict((rename_key(k), v) for k, v in state.items())
    out["diam_mean"] = torch.full((1,), DIAM_MEAN)
    out["diam_labels"] = torch.full((1,), DIAM_MEAN)
    if len(out) != N_TENSORS or tuple(out["output.2.weight"].shape) != (3, 32, 1, 1):
        raise ValueError(f"{source}: not the expected CPnet layout ({len(out)} tensors)")
    return out


def same_weights(path: Path, expected: OrderedDict[str, torch.Tensor]) -> bool:
    """True if ``path`` is a readable state dict holding exactly the tensors in ``expected``."""
    try:
        found = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # unreadable or foreign file: treat as stale
        return False
    return (
        isinstance(found, dict)
        and found.keys() == expected.keys()
        and all(torch.equal(found[k], v) for k, v in expected.items())
    )


def convert(dest: Path | str, source: Path | str | None = None, *, check_hash: bool = True) -> Path:
    """Write the Cellpose 3 weights to ``dest`` and return its path.

    ``source`` is scellseg's state dict or the scellseg sdist (.tar.gz); it defaults to the file in the
    installed scellseg package. Nothing is written if ``dest`` already holds the same tensors; otherwise the
    file is written atomically (temporary file + rename).
    """
    dest = Path(dest)
    state = converted_state_dict(Path(source) if source else find_source(), check_hash=check_hash)
    if dest.is_file() and same_weights(dest, state):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="where to write the Cellpose 3 weights file")
    parser.add_argument(
        "--source",
        type=Path,
        help="scellseg's 'cellpose' file or scellseg-0.1.8.tar.gz (default: installed package)",
    )
    parser.add_argument(
        "--no-check-hash", action="store_true", help="accept a source whose SHA-256 differs from 0.1.8's"
    )
    args = parser.parse_args(argv)
    try:
        path = convert(args.dest, args.source, check_hash=not args.no_check_hash)
    except (OSError, KeyError, ValueError, tarfile.TarError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
