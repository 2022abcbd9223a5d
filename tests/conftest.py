"""Fixtures shared by the end-to-end tests."""

import contextlib
import fcntl
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from runs import CUSTOM_MODULE, REPO, RUN_DIR, FinishedRun, finished_run

CACHE = REPO / ".cache"
VENV = CACHE / "venv-models"


@contextlib.contextmanager
def building(name: str) -> Iterator[None]:
    """One test worker at a time builds a shared cache entry; the others wait here, then reuse it."""
    CACHE.mkdir(exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session", autouse=True)
def worker_folder() -> Iterator[None]:
    """A pytest-xdist worker's linked copy of the repository is removed when its session ends."""
    yield
    if RUN_DIR != REPO:
        shutil.rmtree(RUN_DIR)  # links are removed, never followed
        with contextlib.suppress(OSError):
            RUN_DIR.parent.rmdir()


@pytest.fixture
def custom_module(tmp_path: Path) -> Path:
    folder = tmp_path / "pymods"
    folder.mkdir()
    (folder / "pw_custom_seg.py").write_text(CUSTOM_MODULE)
    return folder


@pytest.fixture(scope="session")
def workflow_run(tmp_path_factory: pytest.TempPathFactory) -> FinishedRun:
    """One finished workflow run with its report, shared by the modules that inspect its results."""
    return finished_run(tmp_path_factory.mktemp("finished"))


def environment(venv: Path, extra: str, check: bool = False) -> Path:
    """The interpreter of ``venv``, holding this package with ``extra`` (built with pip on first use, or
    when pyproject.toml changed); with ``check``, ``pip check`` must pass in it."""
    stamp = venv / "pyproject.sha256"
    want = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    with building(venv.name):
        if not stamp.exists() or stamp.read_text() != want:
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-e", f"{REPO}[{extra}]"],
                                 capture_output=True, text=True)
            assert pip.returncode == 0, pip.stderr[-3000:]
            if check:
                found = subprocess.run([str(venv / "bin" / "pip"), "check"], capture_output=True, text=True)
                assert found.returncode == 0, found.stdout
            stamp.write_text(want)
    return venv / "bin" / "python"


@pytest.fixture(scope="session")
def python() -> Path:
    """The models' environment: Cellpose 3 and StarDist, CPU builds."""
    return environment(VENV, "models-cpu")


@pytest.fixture(scope="session")
def cellpose4() -> Path:
    """Cellpose 4's environment (CPU runs of a CUDA build of torch), with the SLURM plugin: their
    requirements agree (``pip check``)."""
    return environment(CACHE / "venv-cellpose4", "models-cellpose4", check=True)


@pytest.fixture(scope="session")
def cellpose4_weights(cellpose4: Path) -> Path:
    """Cellpose-SAM weights of the real network, randomly initialised (models/cellpose/random_cpsam.py)."""
    dest = CACHE / "models" / "cpsam_random_seed0.pth"
    with building("cellpose4-weights"):
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([str(cellpose4), str(REPO / "models/cellpose/random_cpsam.py"), str(dest)],
                           check=True)
    return dest


@pytest.fixture(scope="session")
def cellpose_weights(python: Path) -> Path:
    """Cellpose 3 weights converted from scellseg 0.1.8 (its sdist fetched from the registry once)."""
    dest = CACHE / "models" / "scellseg_cellpose3.pth"
    with building("cellpose-weights"):
        if dest.exists():
            return dest
        sdist = dest.with_name("scellseg-0.1.8.tar.gz")
        if not sdist.exists():
            subprocess.run([str(python), "-m", "pip", "download", "-q", "--no-deps", "scellseg==0.1.8",
                            "-d", str(sdist.parent)], check=True)
        subprocess.run([str(python), str(REPO / "models/cellpose/convert_scellseg.py"), str(dest),
                        "--source", str(sdist)], check=True)
    return dest
