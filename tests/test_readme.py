"""Every shell command the README shows runs as written.

The commands are read from the README itself (its ``bash`` blocks and inline ``.venv/bin/...``
commands), so a command added there is either run here, in a sandbox holding the repository's
files, or must be named below with the test that runs it. ``my.yaml`` is the README's example
config, pointed at a small image.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr
from microscope_files import czi, ome_tiff
from runs import REPO, blobs
from scipy import ndimage

from patchworks.io.images import write_image

README = (REPO / "README.md").read_text()
# commands that run elsewhere, by what they contain -> where
ELSEWHERE = {
    "--profile slurm": "tests/test_slurm.py (a real one-node SLURM)",
    "~/.config/snakemake": "tests/test_slurm.py (the README's install step, verbatim)",
    '.venv/bin/pip install -e ".[slurm]"': "tests/test_slurm.py (its environment)",
    ".venv/bin/pytest": ".ci/run (the README's test command, verbatim), and this very suite",
    '.venv/bin/pip install -e ".[bioio,imaris]"': "the test extra holds bioio and imaris (asserted)",
    "plate.lif": "no LIF writer installs here; --scene on a two-scene file in tests/test_convert.py",
    "python benchmarks/": "benchmarks: minutes of a 1 Gvoxel image, by hand (docs/benchmarks.md)",
    "patchworks view": "tests/test_napari.py (a real napari viewer on an Xvfb display, --screenshot)",
}
INSTALL = re.compile(r"^python3 -m venv \.venv && \.venv/bin/pip install -e \"\.\[\w+\]\" && ")


def readme_commands() -> list[str]:
    """The shell commands of the README, in order: lines of its bash blocks (comments dropped) and
    inline commands run from the virtual environment or with python."""
    found = []
    for block in re.findall(r"^ *```bash\n(.*?)^ *```", README, re.S | re.M):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line:
                found.append(line)
    found += re.findall(r"`((?:\.venv/bin/|python )[^`]+)`", README)
    return list(dict.fromkeys(found))


def where_else(command: str) -> str | None:
    return next((place for key, place in ELSEWHERE.items() if key in command), None)


def runnable(command: str) -> str:
    """The part of a command to run here: the quick start's install is what this environment did."""
    return INSTALL.sub("", command)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's files (linked) and this environment as ``.venv``, so that relative paths
    and outputs stay in a fresh folder; ``my.yaml`` is the README's config on a small image."""
    box = tmp_path_factory.mktemp("readme")
    for name in ("Snakefile", "workflow", "scripts", "config", "profiles", "envs", "src"):
        (box / name).symlink_to(REPO / name)
    (box / ".venv").symlink_to(sys.prefix)
    example = next(yaml.safe_load(b) for b in re.findall(r"^```yaml\n(.*?)^```", README, re.S | re.M)
                   if "input:" in b)
    stack = np.stack([blobs((16, 64, 64), seed) for seed in (11, 12)])  # c, z, y, x
    name = Path(example["input"]["store"]).name  # the README's microscope file, written by its writer
    assert name.endswith(".czi"), name
    czi(box / name, stack, (2.0, 0.5, 0.5), ["membrane", "nuclei"])
    ome_tiff(box / "scan.ome.tif", stack[1], "zyx", (2.0, 0.5, 0.5))  # for `patchworks convert`
    example["input"]["store"] = str(box / name)
    example["workdir"] = str(box / "scratch" / "patchworks-work")
    example["tiling"]["tile_shape"] = [8, 32, 32]  # the README's [64, 1024, 1024] for a small image
    (box / "my.yaml").write_text(yaml.safe_dump(example, sort_keys=False))
    many_images(box)
    return box


def many_images(box: Path) -> None:
    """The "Many images" section's files: its ``my-images.yaml`` and ``images.tsv`` as printed, and the
    two images its sheet names (an OME-Zarr, and a two-channel OME-TIFF written by tifffile)."""
    images = next(b for b in re.findall(r"^```yaml\n(.*?)^```", README, re.S | re.M) if "sheet:" in b)
    (box / "my-images.yaml").write_text(images)
    (box / "images.tsv").write_text(re.search(r"^```tsv\n(.*?)^```", README, re.S | re.M).group(1))
    (box / "data").mkdir()
    write_image(box / "data" / "embryo1.ome.zarr", blobs((40, 48), 21), "yx")
    ome_tiff(box / "data" / "embryo2.ome.tif", np.stack([blobs((36, 44), s) for s in (22, 23)]), "cyx",
             (0.5, 0.5))


def test_every_command_is_run_here_or_elsewhere() -> None:
    commands = readme_commands()
    assert len(commands) >= 10, commands
    for command in commands:
        place = where_else(command)
        assert place or command.startswith((".venv/bin/", "python3 -m venv")), command
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    test_extra = extras["test"]
    assert any("bioio" in e and "imaris" in e for e in test_extra), test_extra
    ci = (REPO / ".ci" / "run").read_text()
    test_command = next(c for c in commands if c.endswith(".venv/bin/pytest"))
    assert test_command in ci
    slurm = (REPO / "tests" / "test_slurm.py").read_text()
    assert next(c for c in commands if "~/.config/snakemake" in c) in slurm


def test_readme_commands_run_as_written(sandbox: Path) -> None:
    """In README order: the quick start's demo run and report, then the commands on my.yaml; each exits
    0, the demo's and my.yaml's labels are published, and the demo's report holds its pictures."""
    commands = [c for c in readme_commands() if not where_else(c)]
    assert any("--configfile my.yaml --rerun-incomplete" in c for c in commands), commands
    for command in commands:
        run = subprocess.run(["bash", "-c", runnable(command)], cwd=sandbox, capture_output=True, text=True,
                             timeout=900)
        assert run.returncode == 0, f"{command}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    for work in ("patchworks-work", "scratch/patchworks-work"):
        published = json.loads((sandbox / work / "nuclei" / "published.json").read_text())
        assert published["objects"] > 0, published
    demo_labels_are_exact(sandbox)
    with zipfile.ZipFile(sandbox / "report.zip") as report:
        names = {Path(n).name for n in report.namelist()}
    assert {"report.html", "overview.png", "tiles.png", "volumes.png", "seams.png", "seams.tsv",
            "config.yaml"} <= names, names
    rows = (sandbox / "experiment-work" / "nuclei" / "images.tsv").read_text().splitlines()
    assert [row.split("\t")[0] for row in rows] == ["image", "embryo1", "embryo2"], rows
    assert all(row.endswith("\tpublished") for row in rows[1:]), rows
    converted = zarr.open_group(str(sandbox / "scratch" / "embryo.ome.zarr" / "labels"), mode="r")
    assert "nuclei" in converted.attrs["ome"]["labels"]
    assert (sandbox / "scan.zarr" / "zarr.json").exists()


def demo_labels_are_exact(sandbox: Path) -> None:
    """The quick start's run of config/config.yaml built the demo image of real nuclei, in tens of
    tiles, and its labels equal whole-image smoothing + Otsu threshold + connected components up to
    renumbering."""
    config = yaml.safe_load((sandbox / "config" / "config.yaml").read_text())
    name = config["output"]["label_name"]
    store, work = sandbox / config["input"]["store"], sandbox / config["workdir"] / name
    published = json.loads((work / "published.json").read_text())
    assert json.loads((work / "prepare.json").read_text())["tiles"] >= 20, "the demo spans tens of tiles"
    image = zarr.open_array(str(store / "0"), mode="r")[0]
    labels = zarr.open_array(str(store / "labels" / name / "0"), mode="r")[...]
    value = json.loads((work / "threshold.json").read_text())["value"]
    sigma = config["method"]["threshold"]["smooth_sigma"]
    smooth = ndimage.gaussian_filter(image.astype(np.float32), sigma, truncate=4.0)
    reference, n = ndimage.label(smooth > value)
    assert n > 100, "real nuclei, not an empty image"
    assert published["objects"] == n == labels.max()
    pairs = np.unique(np.stack([reference.ravel(), labels.ravel()]), axis=1)
    assert pairs.shape[1] == n + 1 and len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == n + 1
    assert zarr.open_group(str(store / "labels"), mode="r").attrs["ome"]["labels"] == [name]
