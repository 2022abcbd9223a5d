"""``view_in_napari`` against a real napari viewer (hidden: ``show=False``, Qt's offscreen platform):
the image and its labels as layers, the labels shown, on the image's axes and physical scale.

napari draws its layers with OpenGL, which Qt's offscreen platform gets from an X server: an Xvfb is
started for these tests (installed with apt-get when missing and run as root; skipped otherwise,
except under CI=true, where that is a failure).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zarr
from runs import make_image
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
import json, sys
import numpy as np
import zarr
from patchworks.plugins.napari import view_in_napari

def describe(viewer):
    out = []
    for layer in viewer.layers:
        levels = layer.data if layer.multiscale else [layer.data]
        out.append({"kind": type(layer).__name__, "name": layer.name, "visible": bool(layer.visible),
                    "ndim": layer.ndim, "scale": [float(v) for v in layer.scale],
                    "multiscale": layer.multiscale, "shapes": [list(d.shape) for d in levels],
                    "level0": np.asarray(levels[0]).tolist()})
    return {"axes": list(viewer.dims.axis_labels), "layers": out}

views = {}
viewer = view_in_napari("scan.zarr", labels="scan.zarr/labels/labels", show=False)
views["readme"] = describe(viewer)
viewer.close()
viewer = view_in_napari("scan.zarr", show=False)
views["listed"] = describe(viewer)
view_in_napari("scan.zarr", labels="flat.zarr/labels", viewer=viewer, show=False)
views["added"] = describe(viewer)
viewer.close()
print(json.dumps(views))
"""


def test_view_image_and_labels(tmp_path: Path, display: str) -> None:
    """The README's viewer call (hidden) on an OME-Zarr written by our writer (2 channels, z/y/x,
    anisotropic, 2 levels) with labels from tile_process: one image layer per channel, the labels
    shown on the same 3 axes, levels and scale as the image, holding the stored labels. The viewer
    lives in its own process (Xlib ends a process whose X server goes away before it does)."""
    import json

    make_image(tmp_path / "scan.zarr", "czyx", (4, 64, 64), 2, seed=21, levels=2, scale=(1.0, 2.0, 0.5, 0.5))
    tiles = {"channel": 1, "tile_shape": (2, 32, 32), "progress": False}
    tile_process(tmp_path / "scan.zarr", segment, pyramid_levels=2, **tiles)
    tile_process(tmp_path / "scan.zarr", segment, write_to=tmp_path / "flat.zarr", **tiles)
    run = subprocess.run([sys.executable, "-c", VIEW], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    views = json.loads(run.stdout.strip().splitlines()[-1])
    stored = zarr.open_array(str(tmp_path / "scan.zarr/labels/labels/0"), mode="r")[0]
    assert stored.max() > 5

    readme = views["readme"]
    assert readme["axes"] == ["z", "y", "x"]
    assert [layer["kind"] for layer in readme["layers"]] == ["Image", "Image", "Labels"]
    image, _, labels = readme["layers"]
    assert labels["name"] == "labels" and labels["visible"] and labels["ndim"] == image["ndim"] == 3
    assert labels["multiscale"] and labels["shapes"] == image["shapes"] == [[4, 64, 64], [4, 32, 32]]
    assert labels["scale"] == image["scale"] == [2.0, 0.5, 0.5]
    np.testing.assert_array_equal(np.array(labels["level0"]), stored)

    # labels=None: every label image listed in the store; a single array (write_to) on the image's grid
    assert [layer["name"] for layer in views["listed"]["layers"] if layer["kind"] == "Labels"] == ["labels"]
    flat = views["added"]["layers"][-1]
    assert flat["kind"] == "Labels" and flat["visible"] and not flat["multiscale"]
    assert flat["scale"] == [2.0, 0.5, 0.5] and flat["shapes"] == [[4, 64, 64]]
    np.testing.assert_array_equal(np.array(flat["level0"]), stored)
