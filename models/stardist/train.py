"""Train (and evaluate) the small 2-D StarDist nuclei model shipped in ``models/stardist/nuclei2d``.

Data: the annotated DAPI/Hoechst nucleus images that ship inside the ``mnfinder`` 1.2.3 wheel (MIT licence):
``training-data/<experiment>/images/<n>.tif`` with instance masks ``nucleus_masks/<n>.png`` (RGBA; the
instance id is the blue channel where alpha > 0).

Splits (deterministic, no randomness involved):

* held out for evaluation: every 5th image of ``training-data`` in sorted order (index % 5 == 4);
* training: the other ``training-data`` images;
* validation (checkpoint selection and threshold optimisation): mnfinder's own ``validation-data``.

Usage (see README.md for the environment)::

    python models/stardist/train.py                  # train, then evaluate; writes models/stardist/nuclei2d
    python models/stardist/train.py --out /tmp/m     # write the model elsewhere
    python models/stardist/train.py --eval-only      # only evaluate an existing model

Evaluation reports object F1 at IoU 0.5 (``stardist.matching.matching``) on the held-out images and on the
DSB 2018 test image bundled with stardist (``stardist.data.test_image_nuclei_2d``), never used for training.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from csbdeep.utils import normalize
from PIL import Image
from skimage.measure import label
from tifffile import imread

if TYPE_CHECKING:
    from stardist.models import StarDist2D

HERE = Path(__file__).resolve().parent
HOLDOUT_EVERY = 5
MIN_AREA = 30  # label fragments smaller than this (pixels) are annotation debris and are dropped
SEED = 42

Pair = tuple[np.ndarray, np.ndarray]


def mnfinder_dir() -> Path:
    """Return mnfinder's package folder without importing it (its own dependencies are not installed)."""
    spec = importlib.util.find_spec("mnfinder")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("mnfinder is not installed: pip install --no-deps mnfinder==1.2.3")
    return Path(next(iter(spec.submodule_search_locations)))


def list_images(folder: Path) -> list[Path]:
    """All ``images/*.tif`` under ``folder`` that have a nucleus mask, sorted by relative path."""
    tifs = sorted(folder.glob("*/images/*.tif"), key=lambda p: p.relative_to(folder).as_posix())
    return [p for p in tifs if mask_path(p).exists()]


def mask_path(image: Path) -> Path:
    return image.parent.parent / "nucleus_masks" / f"{image.stem}.png"


def read_mask(path: Path) -> np.ndarray:
    """Instance mask from mnfinder's RGBA png, relabelled so that every object is one connected component.

    A few masks reuse an id for distant nuclei; relabelling connected components of equal id splits them.
    """
    rgba = np.asarray(Image.open(path).convert("RGBA"))
    ids = np.where(rgba[..., 3] > 0, rgba[..., 2], 0).astype(np.int32)
    lab = label(ids, background=0, connectivity=1)
    lab[(np.bincount(lab.ravel()) < MIN_AREA)[lab]] = 0
    from stardist import fill_label_holes

    return fill_label_holes(lab).astype(np.uint16)


def load(paths: list[Path]) -> list[Pair]:
    """Read and normalise images (percentiles 1, 99.8) and read their instance masks."""
    pairs = []
    for p in paths:
        img = imread(p)
        if img.ndim != 2:
            raise ValueError(f"{p}: expected a 2-D image, got shape {img.shape}")
        pairs.append((normalize(img, 1, 99.8, axis=(0, 1)).astype(np.float32), read_mask(mask_path(p))))
    return pairs


def split(root: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """Return (train, validation, held-out) image paths; see the module docstring."""
    images = list_images(root / "training-data")
    held_out = [p for i, p in enumerate(images) if i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1]
    train = [p for p in images if p not in held_out]
    return train, list_images(root / "validation-data"), held_out


def augment(x: np.ndarray, y: np.ndarray) -> Pair:
    """Random flips / 90-degree rotations and a mild intensity change (uses the seeded numpy RNG)."""
    k = np.random.randint(4)
    x, y = np.rot90(x, k), np.rot90(y, k)
    if np.random.rand() < 0.5:
        x, y = np.fliplr(x), np.fliplr(y)
    x = x * np.random.uniform(0.7, 1.3) + np.random.uniform(-0.1, 0.1)
    return np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y)


def seed_everything(seed: int) -> None:
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    tf.keras.utils.set_random_seed(seed)


def train(out: Path, train_data: list[Pair], val_data: list[Pair], epochs: int, steps: int) -> float:
    """Train a small StarDist2D into ``out`` and optimise its thresholds; return the training seconds."""
    from stardist.models import Config2D, StarDist2D

    seed_everything(SEED)
    config = Config2D(
        n_rays=32,
        grid=(2, 2),
        n_channel_in=1,
        unet_n_depth=3,
        unet_n_filter_base=32,
        train_patch_size=(128, 128),
        train_batch_size=4,
        train_epochs=epochs,
        train_steps_per_epoch=steps,
        train_n_val_patches=24,
        train_tensorboard=False,
        train_checkpoint_last=None,
        train_checkpoint_epoch=None,
    )
    model = StarDist2D(config, name=out.name, basedir=str(out.parent))
    x_trn, y_trn = ([p[i] for p in train_data] for i in (0, 1))
    x_val, y_val = ([p[i] for p in val_data] for i in (0, 1))
    start = time.perf_counter()
    model.train(x_trn, y_trn, validation_data=(x_val, y_val), augmenter=augment, seed=SEED)
    seconds = time.perf_counter() - start
    model.optimize_thresholds(x_val, y_val)
    return seconds


def f1(model: StarDist2D, data: list[Pair]) -> dict[str, float]:
    """Object-level F1 etc. at IoU 0.5, pooled over all images (``matching_dataset``)."""
    from stardist.matching import matching_dataset

    preds = [model.predict_instances(x, show_tile_progress=False)[0] for x, _ in data]
    stats = matching_dataset([y for _, y in data], preds, thresh=0.5, show_progress=False)
    return {k: round(float(getattr(stats, k)), 4) for k in ("f1", "precision", "recall", "n_true", "n_pred")}


def evaluate(out: Path, held_out: list[Pair]) -> dict[str, dict[str, float]]:
    """F1 at IoU 0.5 of the model in ``out`` on the held-out images and on stardist's DSB 2018 test image."""
    from stardist.data import test_image_nuclei_2d
    from stardist.models import StarDist2D

    model = StarDist2D(None, name=out.name, basedir=str(out.parent))
    img, mask = test_image_nuclei_2d(return_mask=True)
    dsb = [(normalize(img, 1, 99.8, axis=(0, 1)).astype(np.float32), mask)]
    return {"held_out": f1(model, held_out), "dsb2018_test_image": f1(model, dsb)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "nuclei2d", help="model folder to write")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--steps", type=int, default=25, help="steps per epoch")
    parser.add_argument("--eval-only", action="store_true", help="skip training; evaluate the model in --out")
    args = parser.parse_args()
    out = args.out.resolve()

    root = mnfinder_dir()
    train_paths, val_paths, held_paths = split(root)
    rel = [p.relative_to(root / "training-data").as_posix() for p in held_paths]
    print(f"mnfinder data: {root}")
    print(f"train {len(train_paths)}, validation {len(val_paths)}, held out {len(held_paths)}: {rel}")

    if not args.eval_only:
        seconds = train(out, load(train_paths), load(val_paths), args.epochs, args.steps)
        print(f"training took {seconds:.0f} s")
        for extra in out.iterdir():  # keep only what StarDist2D(None, name, basedir) needs
            if extra.name not in ("config.json", "thresholds.json", "weights_best.h5"):
                print(f"removing {extra}")
                shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
    print(json.dumps(evaluate(out, load(held_paths)), indent=2))


if __name__ == "__main__":
    main()
