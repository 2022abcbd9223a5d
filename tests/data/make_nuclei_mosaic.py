"""Build ``nuclei_mosaic.npz``: real nuclei with ground truth, much larger than a tile.

Four of the images that ``models/stardist/train.py`` holds out of training (mnfinder 1.2.3's
``training-data``, MIT licence; DAPI/Hoechst-stained RPE1 and U2OS nuclei) are centre-cropped to
512 x 512 and put side by side as a 1024 x 1024 mosaic; their instance masks likewise, with ids
made unique. Each crop is scaled to its own 1st-99.8th percentile range first (the source
images come from different acquisitions), then the mosaic is stored as uint16.

Run with ``mnfinder`` installed (``pip install --no-deps mnfinder==1.2.3``), from the repository root:
``python tests/data/make_nuclei_mosaic.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from tifffile import imread

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models" / "stardist"))
from train import mask_path, mnfinder_dir, read_mask, split  # noqa: E402

CROP = 512
OUT = Path(__file__).with_name("nuclei_mosaic.npz")


def crop(a: np.ndarray) -> np.ndarray:
    y, x = (a.shape[0] - CROP) // 2, (a.shape[1] - CROP) // 2
    return a[y:y + CROP, x:x + CROP]


def main() -> None:
    _, _, held_out = split(mnfinder_dir())
    pieces = []
    for path in held_out:
        image = imread(path).astype(np.float32)
        if min(image.shape) >= CROP:
            mask = crop(read_mask(mask_path(path)))
            pieces.append((path, crop(image), mask))
    pieces = sorted(pieces, key=lambda p: -len(np.unique(p[2])))[:4]  # the four crops with most nuclei
    images, masks, offset = [], [], 0
    for _, image, mask in pieces:
        low, high = np.percentile(image, [1, 99.8])
        images.append((np.clip((image - low) / (high - low), 0, 1.2) * 50000).astype(np.uint16))
        masks.append(np.where(mask > 0, mask.astype(np.uint32) + offset, 0))
        offset += int(mask.max())
    image = np.block([[images[0], images[1]], [images[2], images[3]]])
    mask = np.block([[masks[0], masks[1]], [masks[2], masks[3]]])
    sources = [p.relative_to(mnfinder_dir()).as_posix() for p, _, _ in pieces]
    np.savez_compressed(OUT, image=image, mask=mask, sources=np.array(sources))
    print(f"{OUT}: {image.shape}, {len(np.unique(mask)) - 1} nuclei from {sources}")


if __name__ == "__main__":
    main()
