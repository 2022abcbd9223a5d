"""Check converted Cellpose 3 weights on the real DSB 2018 nuclei image that ships in the stardist wheel.

Prints, for several diameters, the number of objects, F1 and AP (TP / (TP + FP + FN)) at IoU 0.5 against the
ground truth, and the wall time of one ``eval`` on the 512 x 512 image (best of ``--repeats``)::

    pip install --no-deps scellseg==0.1.8
    pip install torch==2.13.0 cellpose==3.1.1.2 stardist==0.9.2
    python models/cellpose/evaluate_dsb.py /tmp/scellseg_cellpose3.pth

The weights file is written by ``convert_scellseg.convert`` first if it does not exist yet. Matching works on
the label ids present: the GT ids are not consecutive (125 nuclei, max id 183), and
``cellpose.metrics.average_precision`` would count ``max(label)`` = 183 true objects and understate AP.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from cellpose import models, utils
from scipy.optimize import linear_sum_assignment
from stardist.data import test_image_nuclei_2d

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_scellseg import convert  # noqa: E402


def match_scores(
    gt: npt.NDArray[np.integer[Any]], pred: npt.NDArray[np.integer[Any]], iou_threshold: float = 0.5
) -> tuple[int, int, int]:
    """Return (TP, FP, FN) of a one-to-one IoU matching between two label images."""
    gt_ids, gt_inv = np.unique(gt, return_inverse=True)
    pr_ids, pr_inv = np.unique(pred, return_inverse=True)
    overlap = np.zeros((gt_ids.size, pr_ids.size), np.int64)
    np.add.at(overlap, (gt_inv.ravel(), pr_inv.ravel()), 1)
    union = overlap.sum(1, keepdims=True) + overlap.sum(0, keepdims=True) - overlap  # full areas
    overlap, union = overlap[gt_ids > 0][:, pr_ids > 0], union[gt_ids > 0][:, pr_ids > 0]
    iou = np.where(union > 0, overlap / np.maximum(union, 1), 0.0)
    rows, cols = linear_sum_assignment(-iou)
    tp = int((iou[rows, cols] >= iou_threshold).sum())
    return tp, iou.shape[1] - tp, iou.shape[0] - tp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path, help="converted weights (created if missing)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per setting (after one warm-up)")
    args = parser.parse_args(argv)

    image, gt = test_image_nuclei_2d(return_mask=True)
    gt_diameter = float(utils.diameters(gt)[0])  # Cellpose's definition: median equivalent-circle diameter
    model = models.CellposeModel(gpu=False, pretrained_model=str(convert(args.weights)))
    n_gt = len(np.unique(gt)) - 1
    print(f"GT: {n_gt} nuclei, median diameter {gt_diameter:.2f} px; model diam_mean {model.diam_mean}")
    for diameter in (None, gt_diameter, 20.0):
        model.eval(image, channels=[0, 0], diameter=diameter)  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            masks = model.eval(image, channels=[0, 0], diameter=diameter)[0]
            times.append(time.perf_counter() - start)
        tp, fp, fn = match_scores(gt, masks)
        label = "None" if diameter is None else f"{diameter:.2f}"
        print(
            f"diameter={label:>6}: {int(masks.max()):4d} objects, TP {tp}, FP {fp}, FN {fn}, "
            f"F1@0.5 {2 * tp / (2 * tp + fp + fn):.3f}, AP@0.5 {tp / (tp + fp + fn):.3f}, "
            f"{min(times):.2f} s/image"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
