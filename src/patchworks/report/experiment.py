"""The report's experiment page (a run of many images): objects and the seam check per image, and a
gallery of the images' overviews."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .figures import _fmt, _pyplot, _save

GALLERY_LIMIT = 48  # overviews shown in the gallery (the first images of the run)


def name(row: dict[str, Any]) -> str:
    """An image's name in the pictures: its id, and a time series' timepoint."""
    return row["image"] if row.get("t") is None else f"{row['image']} t={row['t']}"


def counts_figure(rows: Sequence[dict[str, Any]], path: str | Path) -> None:
    """Per image: its object count, and its seam check (share of touching objects ending at the seams
    against every plane inside the tiles)."""
    plt = _pyplot()
    names = [name(row) for row in rows]
    x = np.arange(len(rows))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(7, 0.3 * len(rows) + 2), 7), sharex=True)
    top.bar(x, [row["objects"] for row in rows], color="tab:blue")
    top.set_ylabel("objects")
    top.set_title(f"{len(rows)} images, {sum(row['objects'] for row in rows)} objects", fontsize=10)
    nan = [np.nan if v is None else v for v in (row["seam_rate"] for row in rows)]
    inside = [np.nan if v is None else v for v in (row["inside_rate"] for row in rows)]
    bottom.bar(x - 0.2, nan, 0.4, color="tab:orange", label="at the seams")
    bottom.bar(x + 0.2, inside, 0.4, color="tab:gray", label="every plane inside the tiles")
    bottom.set_ylim(0, 1)
    bottom.set_ylabel("objects ending there / touching")
    bottom.legend(loc="upper right", fontsize=8)
    bottom.set_xticks(x, names, rotation=90, fontsize=7 if len(rows) < 60 else 4)
    _save(fig, path)


def gallery(rows: Sequence[dict[str, Any]], overviews: Sequence[str | Path], path: str | Path) -> None:
    """The images' overview pictures (labels outlined on the image), the first ``GALLERY_LIMIT``."""
    plt = _pyplot()
    shown = list(zip(rows, overviews))[:GALLERY_LIMIT]
    columns = min(6, len(shown))
    lines = math.ceil(len(shown) / columns)
    fig, axes = plt.subplots(lines, columns, figsize=(2.6 * columns, 2.8 * lines), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (row, overview) in zip(axes.ravel(), shown):
        picture = plt.imread(str(overview))
        ax.imshow(picture[:: max(1, picture.shape[0] // 300), :: max(1, picture.shape[1] // 300)])
        ax.set_title(f"{name(row)}: {row['objects']} objects\nseams {_fmt(row['seam_rate'])}, inside "
                     f"{_fmt(row['inside_rate'])}", fontsize=7)
    more = f" (the first {GALLERY_LIMIT} of {len(rows)})" if len(rows) > GALLERY_LIMIT else ""
    fig.suptitle(f"overviews{more}", fontsize=10)
    _save(fig, path)
