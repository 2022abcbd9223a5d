"""``view_in_napari`` against a real napari viewer (hidden: ``show=False``, Qt's offscreen platform):
the image and its labels as layers, the labels shown, on the image's axes and physical scale.

napari draws its layers with OpenGL, which Qt's offscreen platform gets from an X server: an Xvfb is
started for these tests (installed with apt-get when missing and run as root; skipped otherwise,
except under CI=true, where that is a failure). Pictures of a view need a shown window, drawn by Qt's
xcb platform on that Xvfb with Mesa's software OpenGL: those libraries are installed the same way.
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


# Qt 6's xcb platform plugin and software OpenGL (Debian package names)
XCB_GL = ["libxcb-cursor0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1", "libxcb-randr0",
          "libxcb-render-util0", "libxcb-shape0", "libxcb-xinerama0", "libxcb-xkb1", "libxkbcommon-x11-0",
          "libgl1", "libegl1", "libgl1-mesa-dri"]


def qt_xcb_loads() -> bool:
    """Whether Qt's xcb platform plugin finds its libraries (it fails before connecting to a display)."""
    code = ("from qtpy.QtCore import QLibraryInfo, QPluginLoader; import sys; from pathlib import Path; "
            "p = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / 'platforms' / 'libqxcb.so'; "
            "sys.exit(0 if QPluginLoader(str(p)).load() else 1)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """An Xvfb display, with QT_QPA_PLATFORM=offscreen, for this module's tests."""
    if importlib.util.find_spec("napari") is None:
        unavailable("napari is not installed (pip install -e '.[napari]')")
    missing = ([] if shutil.which("Xvfb") else ["xvfb"]) + ([] if qt_xcb_loads() else XCB_GL)
    if missing:
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            unavailable(f"{', '.join(missing)} missing, and installing them needs root and apt-get")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
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


OME_ZARR_READER = """
import json, sys
import napari
viewer = napari.Viewer(show=False)
viewer.open(sys.argv[1], plugin="napari-ome-zarr")
out = []
for layer in viewer.layers:
    levels = layer.data if layer.multiscale else [layer.data]
    entry = {"kind": type(layer).__name__, "ndim": layer.ndim, "scale": [float(v) for v in layer.scale],
             "translate": [float(v) for v in layer.translate], "shapes": [list(d.shape) for d in levels],
             "units": [str(u) for u in layer.units], "visible": bool(layer.visible)}
    if entry["kind"] == "Labels":
        entry["colors"] = len(layer.colormap.color_dict)
    out.append(entry)
print(json.dumps({"axes": list(viewer.dims.axis_labels), "layers": out}))
viewer.close()
"""


def test_workflow_labels_open_in_napari_ome_zarr_on_the_image_axes(workflow_run, display: str) -> None:
    """napari-ome-zarr's reader (napari's own File > Open for OME-Zarr) puts the workflow's labels on the
    image's axes: same ndim, levels, scale and units as each channel's image layer, every label coloured
    from the NGFF colours (it opens label layers hidden; ``view_in_napari`` shows them)."""
    run = subprocess.run([sys.executable, "-c", OME_ZARR_READER, str(workflow_run.store)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    view = json.loads(run.stdout.strip().splitlines()[-1])
    images = [layer for layer in view["layers"] if layer["kind"] == "Image"]
    (labels,) = [layer for layer in view["layers"] if layer["kind"] == "Labels"]
    assert len(images) == 2 and view["axes"] == ["y", "x"]
    n = int(zarr.open_array(str(workflow_run.labels / "0"), mode="r")[...].max())
    for image in images:
        for key in ("ndim", "scale", "translate", "shapes", "units"):
            assert labels[key] == image[key], key
    assert labels["ndim"] == 2 and labels["shapes"] == [[96, 112], [48, 56]]
    assert labels["scale"] == [0.5, 0.25] and labels["units"] == ["micrometer", "micrometer"]
    assert labels["colors"] >= n + 1  # a colour for 0..N (napari may add its default entry)


def test_view_command_shows_image_and_labels(workflow_run, display: str, tmp_path: Path) -> None:
    """``patchworks view STORE --screenshot PNG``: the same viewer as view_in_napari, pictured without a
    window; the labels' colours are in the picture."""
    picture = tmp_path / "view.png"
    run = subprocess.run([Path(sys.executable).with_name("patchworks"), "view", str(workflow_run.store),
                          "--screenshot", str(picture)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "QT_QPA_PLATFORM": "xcb"})  # a window on the Xvfb display
    assert run.returncode == 0, run.stderr[-3000:]
    names = run.stdout.strip().splitlines()[-1].split(": layers ")[1].split(", ")
    assert len(names) == 3 and names[-1] == "cells", run.stdout  # two channels, then the labels
    from matplotlib.image import imread

    pixels = imread(picture)[..., :3]
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    coloured = np.abs(pixels - pixels.mean(axis=-1, keepdims=True)).max(axis=-1) > 0.1  # not grey
    assert coloured.mean() > 0.01, "no label colours in the view"
