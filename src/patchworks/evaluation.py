"""Accuracy of a label image against ground truth: object F1 and errors at tile seams."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tiling.grid import TileGrid


@dataclass(frozen=True)
class Score:
    f1: float
    matched: int
    predicted: int
    true: int


def overlaps(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(true id, predicted id, voxels)`` of every overlapping pair of objects (0 = background)."""
    both = (truth > 0) & (pred > 0)
    stacked = np.stack([truth[both], pred[both]]).astype(np.int64)
    pairs, counts = np.unique(stacked, axis=1, return_counts=True)
    return pairs[0], pairs[1], counts


def areas(labels: np.ndarray) -> dict[int, int]:
    ids, counts = np.unique(labels[labels > 0], return_counts=True)
    return dict(zip(ids.tolist(), counts.tolist()))


def object_f1(truth: np.ndarray, pred: np.ndarray, iou: float = 0.5) -> Score:
    """Object F1: a true and a predicted object match when their IoU is at least ``iou`` (0.5 makes
    matches one-to-one)."""
    t, p, n = overlaps(truth, pred)
    at, ap = areas(truth), areas(pred)
    union = np.array([at[a] for a in t.tolist()]) + np.array([ap[b] for b in p.tolist()]) - n
    matched = int(np.count_nonzero(n / np.maximum(union, 1) >= iou)) if n.size else 0
    total = len(at) + len(ap)
    return Score(f1=2 * matched / total if total else 1.0, matched=matched, predicted=len(ap), true=len(at))


def seam_errors(truth: np.ndarray, pred: np.ndarray, grid: TileGrid, share: float = 0.2) -> tuple[int, int]:
    """``(splits, merges)`` at tile seams: true objects crossing a seam that two or more predicted
    objects each cover for at least ``share`` of their area; predicted objects crossing a seam that
    cover at least ``share`` of each of two or more true objects."""
    seam_true = crossing(truth, grid)
    seam_pred = crossing(pred, grid)
    t, p, n = overlaps(truth, pred)
    at = areas(truth)
    big = n >= share * np.array([at[a] for a in t.tolist()])
    covers_true = np.unique(t[big], return_counts=True)
    splits = sum(1 for i, c in zip(*covers_true) if c > 1 and int(i) in seam_true)
    covered_by_pred = np.unique(p[big], return_counts=True)
    merges = sum(1 for i, c in zip(*covered_by_pred) if c > 1 and int(i) in seam_pred)
    return splits, merges


def crossing(labels: np.ndarray, grid: TileGrid) -> set[int]:
    """Ids of objects with voxels in more than one tile."""
    ids = set()
    for axis, t in enumerate(grid.tile_shape):
        for edge in range(t, labels.shape[axis], t):
            before = np.take(labels, edge - 1, axis=axis)
            after = np.take(labels, edge, axis=axis)
            same = (before == after) & (before > 0)
            ids.update(np.unique(before[same]).tolist())
    return ids
