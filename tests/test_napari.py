"""``view_in_napari`` against a real napari viewer (hidden: ``show=False``, Qt's offscreen platform):
the image and its labels as layers, the labels shown, on the image's axes and physical scale.

napari draws its layers with OpenGL, which Qt's offscreen platform gets from an X server: an Xvfb is
started for these tests (installed with apt-get when missing and run as root; skipped otherwise,
except under CI=true, where that is a failure).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import microscope_files as mf
import numpy as np
import pytest
import zarr
from runs import blobs
from scipy import ndimage

from patchworks import tile_process

CI = os.environ.get("CI") == "true"


def unavailable(reason: str) -> None:
    if CI:
        pytest.fail(f"CI=true, but napari cannot be tested here: {reason}", pytrace=False)
    pytest.skip(f"napari cannot be tested here: {reason}")


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """An Xvfb display, with QT_QPA_PLATFORM=offscreen, for this module's tests."""
    if importlib.util.find_spec("napari") is None:
        unavailable("napari is not installed (pip install -e '.[napari]')")
    if not shutil.which("Xvfb"):
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            unavailable("Xvfb is missing, and installing it needs root and apt-get")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "xvfb"]):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stderr[-2000:]
    server = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    number = server.stdout.readline().strip()
    saved = {k: os.environ.get(k) for k in ("DISPLAY", "QT_QPA_PLATFORM")}
    os.environ.update({"DISPLAY": f":{number}", "QT_QPA_PLATFORM": "offscreen"})
    try:
        yield os.environ["DISPLAY"]
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.terminate()
        server.wait(timeout=30)
        server.stdout.close()


def segment(tile: np.ndarray) -> np.ndarray:
    return ndimage.label(tile > 100)[0]


def test_napari_imported_only_when_called() -> None:
    code = "import sys, patchworks.plugins.napari; print('napari' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


VIEW = """
import hashlib, json
import numpy as np
from patchworks.plugins.napari import view_in_napari

def describe(viewer):
    out = []
    for layer in viewer.layers:
        levels = layer.data if layer.multiscale else [layer.data]
        level0 = np.ascontiguousarray(np.asarray(levels[0]))
        out.append({"kind": type(layer).__name__, "name": layer.name, "visible": bool(layer.visible),
                    "ndim": layer.ndim, "scale": [float(v) for v in layer.scale],
                    "multiscale": layer.multiscale, "shapes": [list(d.shape) for d in levels],
                    "level0": [str(level0.dtype), hashlib.sha256(level0.tobytes()).hexdigest()]})
    return {"axes": list(viewer.dims.axis_labels), "layers": out}

views = {}
viewer = view_in_napari("scan.zarr", labels="scan.zarr/labels/labels", show=False)  # the README's call
views["readme"] = describe(viewer)
viewer.close()
viewer = view_in_napari("scan.zarr", show=False)
views["listed"] = describe(viewer)
view_in_napari("scan.zarr", labels="flat.zarr/labels", viewer=viewer, show=False)
views["added"] = describe(viewer)
viewer.close()
print(json.dumps(views))
"""


def digest(array: np.ndarray) -> list[str]:
    array = np.ascontiguousarray(array)
    return [str(array.dtype), hashlib.sha256(array.tobytes()).hexdigest()]


def test_readme_convert_then_view(tmp_path: Path, display: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's plugin example: ``to_ome_zarr("scan.ims", "scan.zarr")`` on a real Imaris file
    (2 channels, z/y/x, anisotropic), labels by tile_process, then ``view_in_napari("scan.zarr",
    labels="scan.zarr/labels/labels")`` (hidden): one image layer per channel, the labels shown on
    the same 3 axes, levels and scale (micrometers) as the image, holding the stored labels. The
    viewer lives in its own process (Xlib ends a process whose X server goes away before it does)."""
    monkeypatch.chdir(tmp_path)
    data = np.stack([blobs((3, 320, 300), seed=21), blobs((3, 320, 300), seed=22)])
    mf.imaris(tmp_path / "scan.ims", data, (2.0, 0.5, 0.5), channel_names=["nuclei", "membrane"],
              block=(2, 64, 64))
    from patchworks.plugins.ome_zarr import to_ome_zarr
    to_ome_zarr("scan.ims", "scan.zarr")  # lazy, OOM-safe, keeps µm calibration
    tiles = {"channel": 0, "tile_shape": (3, 160, 150), "progress": False}
    tile_process("scan.zarr", segment, pyramid_levels=2, **tiles)
    tile_process("scan.zarr", segment, write_to="flat.zarr", **tiles)
    run = subprocess.run([sys.executable, "-c", VIEW], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    views = json.loads(run.stdout.strip().splitlines()[-1])
    stored = zarr.open_array("scan.zarr/labels/labels/0", mode="r")[...]
    assert stored.max() > 5

    readme = views["readme"]
    assert readme["axes"] == ["z", "y", "x"]
    assert [(layer["kind"], layer["name"]) for layer in readme["layers"]] == [
        ("Image", "nuclei"), ("Image", "membrane"), ("Labels", "labels")]
    image, _, labels = readme["layers"]
    assert labels["visible"] and labels["ndim"] == image["ndim"] == 3
    assert labels["multiscale"] and labels["shapes"] == image["shapes"] == [[3, 320, 300], [3, 160, 150]]
    assert labels["scale"] == image["scale"] == [2.0, 0.5, 0.5]
    assert labels["level0"] == digest(stored) and image["level0"] == digest(data[0])

    # labels=None: every label image listed in the store; a single array (write_to) on the image's grid
    assert [layer["name"] for layer in views["listed"]["layers"] if layer["kind"] == "Labels"] == ["labels"]
    flat = views["added"]["layers"][-1]
    assert flat["kind"] == "Labels" and flat["visible"] and not flat["multiscale"]
    assert flat["scale"] == [2.0, 0.5, 0.5] and flat["shapes"] == [[3, 320, 300]]
    assert flat["level0"] == digest(stored)
