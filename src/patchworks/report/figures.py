"""The figures of the run's report (the ``figures`` step): each reads a bounded amount of data.

- overview: one plane of a low pyramid level of the image, the label outlines of the matching label
  level and the tile grid, in the image's physical units;
- tiles: per-tile object count and method time (from the stage records) as heatmaps;
- volumes: the histogram of object volumes (from the object table);
- seams: the seam check (:mod:`patchworks.report.seams`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import atomic
from ..io.ngff import ImageSource, read_image_info

OVERVIEW_PIXELS = 1024  # the overview uses the largest level that fits this in y and x (or the smallest)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def overview_level(shapes: Sequence[tuple[int, ...]]) -> int:
    """The finest level whose last two axes fit OVERVIEW_PIXELS (else the coarsest)."""
    fits = [k for k, s in enumerate(shapes) if max(s[-2:]) <= OVERVIEW_PIXELS]
    return fits[0] if fits else len(shapes) - 1


def outlines(labels: np.ndarray) -> np.ndarray:
    """Pixels of a 2-D label plane that differ from a neighbour (4-connected) and are not background."""
    edge = np.zeros(labels.shape, bool)
    edge[1:] |= labels[1:] != labels[:-1]
    edge[:-1] |= labels[:-1] != labels[1:]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    return edge & (labels > 0)


def _extent(shape: tuple[int, int], scale: Sequence[float], translation: Sequence[float]) -> list[float]:
    """imshow's extent (left, right, bottom, top) of a plane whose voxel centres are at translation +
    index * scale."""
    (sy, sx), (ty, tx) = scale[-2:], translation[-2:]
    return [tx - sx / 2, tx + (shape[1] - 0.5) * sx, ty + (shape[0] - 0.5) * sy, ty - sy / 2]


def _step(shape: Sequence[int]) -> int:
    """The stride that brings a plane's y and x within OVERVIEW_PIXELS (1 for a fitting pyramid level)."""
    return max(1, math.ceil(max(shape[-2:]) / OVERVIEW_PIXELS))


def overview(plan: Any, path: str | Path) -> None:
    """A low-resolution plane of the image (the middle z plane of a 3-D one) with the label outlines and
    the tile grid, on the image's physical axes. Reads one plane of a level that fits OVERVIEW_PIXELS,
    or every n-th voxel of the smallest level where none fits (an image without a pyramid)."""
    plt = _pyplot()
    label, image = plan.label_image, plan.image
    spatial = image.spatial_axes
    k = overview_level([label.spatial_shape(level) for level in range(label.levels)])
    level_image = read_image_info(image.store, overview_level(
        [tuple(s[i] for i in spatial) for s in image.level_shapes[label.image_level:]]) + label.image_level)
    shape = label.spatial_shape(k)
    middle = tuple(slice(n // 2, n // 2 + 1) for n in shape[:-2])  # the middle plane of a 3-D image
    step = _step(shape)
    labels = np.asarray(label.array(k, mode="r")[label.index(middle + (slice(None, None, step),) * 2)])
    labels = labels.reshape(labels.shape[-2:])
    source = ImageSource(level_image, plan.config["input"]["channel"], plan.config["input"]["timepoint"])
    z = tuple(slice(m.start * n // t, m.start * n // t + 1) for m, n, t in zip(middle, source.shape, shape))
    image_step = _step(source.shape)
    pixels = np.asarray(source.array[source.selection(z + (slice(None, None, image_step),) * 2)])
    pixels = pixels.reshape(pixels.shape[-2:]).astype(np.float64)
    finite = pixels[np.isfinite(pixels)]
    low, high = np.percentile(finite, (1, 99.8)) if finite.size else (0, 1)
    scale_l, shift_l = label.level_transform(k)
    fig, ax = plt.subplots(figsize=(8, 8 * shape[-2] / max(shape[-1], 1) + 0.6))
    ax.imshow(pixels, cmap="gray", vmin=low, vmax=high if high > low else low + 1, interpolation="nearest",
              extent=_extent(pixels.shape, [level_image.scale[i] * image_step for i in spatial],
                             [level_image.translation[i] for i in spatial]))
    edge = np.ma.masked_where(~outlines(labels), labels % 20)
    ax.imshow(edge, cmap="tab20", vmin=0, vmax=19, interpolation="nearest",
              extent=_extent(labels.shape, [v * step for v in scale_l], shift_l))
    scale0 = [image.scale[i] for i in spatial]
    shift0 = [image.translation[i] for i in spatial]
    for axis, draw in ((-2, ax.axhline), (-1, ax.axvline)):
        for i in range(1, plan.grid.counts[axis]):
            draw(shift0[axis] + (i * plan.grid.tile_shape[axis] - 0.5) * scale0[axis], color="yellow", lw=0.6)
    unit = plan.geometry.unit or "voxels"
    names = image.spatial_names
    ax.set_xlabel(f"{names[-1]} ({unit})")
    ax.set_ylabel(f"{names[-2]} ({unit})")
    where = f", {names[0]} plane {shape[0] // 2} of {shape[0]}" if len(shape) == 3 else ""
    every = f", 1 voxel in {step}" if step > 1 else ""
    ax.set_title(f"{plan.label_image.name}: level {k} ({shape[-2]} x {shape[-1]}{where}{every}), "
                 f"{plan.grid.n_tiles} tiles (yellow)")
    _save(fig, path)


def tile_heatmaps(plan: Any, records: Sequence[dict[str, Any]], path: str | Path) -> None:
    """Staged labels and method seconds per tile, on the tile grid (a 3-D grid summed over its z tiles)."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    counts = np.zeros(plan.grid.n_tiles)
    seconds = np.zeros(plan.grid.n_tiles)
    for r in records:
        counts[r["tile"]] = r["count"]
        seconds[r["tile"]] = r["seconds"]["method"]
    grid = plan.grid.counts
    summed = len(grid) == 3 and grid[0] > 1
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
    for ax, values, title in ((axes[0], counts, "labels per tile (before merging)"),
                              (axes[1], seconds, "method time per tile (s)")):
        field = values.reshape(grid)
        field = field.sum(axis=0) if summed else field.reshape(grid[-2:])
        shown = ax.imshow(field, cmap="viridis", interpolation="nearest")
        fig.colorbar(shown, ax=ax, shrink=0.8)
        if field.size <= 150:
            for (i, j), v in np.ndenumerate(field):
                ax.text(j, i, f"{v:.0f}" if values is counts else f"{v:.2g}", ha="center", va="center",
                        color="white", fontsize=7)
        ax.set_title(title + (f", summed over {grid[0]} z tiles" if summed else ""))
        ax.set_xlabel("tile column")
        ax.set_ylabel("tile row")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _save(fig, path)


def volume_histogram(volumes: np.ndarray, unit: str, bounds: dict[str, Any], path: str | Path) -> None:
    """Histogram of object volumes (log-spaced bins when they span more than two decades)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    positive = volumes[volumes > 0]
    if positive.size:
        low, high = positive.min(), positive.max()
        log = high > 100 * low
        bins = np.geomspace(low, high * 1.0001, 50) if log else 50
        ax.hist(positive, bins=bins, color="tab:blue")
        if log:
            ax.set_xscale("log")
    for key in ("min_volume", "max_volume"):
        if bounds.get(key) is not None:
            ax.axvline(bounds[key], color="tab:red", ls="--", label=f"filter.{key} {bounds[key]:g}")
    if any(bounds.get(k) is not None for k in ("min_volume", "max_volume")):
        ax.legend()
    ax.set_xlabel(f"object volume ({unit})")
    ax.set_ylabel("objects")
    ax.set_title(f"{len(volumes)} objects")
    _save(fig, path)


def seam_figure(check: dict[str, Any], path: str | Path) -> None:
    """Per seam, the share of touching objects that end exactly there, next to its control plane's."""
    plt = _pyplot()
    seams = check["seams"]
    fig, ax = plt.subplots(figsize=(max(7, 0.35 * len(seams) + 2), 4.5))
    x = np.arange(len(seams))
    rate = [s["rate"] if s["rate"] is not None else np.nan for s in seams]
    control = [s["control_rate"] if s["control_rate"] is not None else np.nan for s in seams]
    ax.bar(x - 0.2, rate, 0.4, color="tab:orange",
           label=f"at the seam (all seams: {_fmt(check['seam_rate'])})")
    ax.bar(x + 0.2, control, 0.4, color="tab:gray",
           label=f"control plane inside the tile (all: {_fmt(check['control_rate'])})")
    if check["inside_rate"] is not None:
        ax.axhline(check["inside_rate"], color="black", ls="--", lw=0.8,
                   label=f"every plane inside the tiles: {_fmt(check['inside_rate'])}")
    if len(seams) <= 40:  # the counts behind each bar: few objects make a noisy share
        for i, s in enumerate(seams):
            for dx, ends, crossing in ((-0.2, s["ends"], s["crossing"]),
                                       (0.2, s["control_ends"], s["control_crossing"])):
                ax.text(i + dx, 0.01, f"{ends}/{ends + crossing}", ha="center", va="bottom", rotation=90,
                        fontsize=6)
    ax.set_xticks(x, [f"{s['axis']}={s['position']}" for s in seams], rotation=90, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("objects ending there / touching")
    ax.set_title("seam check: objects ending exactly at each seam\nvs at a plane inside the tile after it"
                 if seams else "seam check: a single tile has no seams", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    _save(fig, path)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _save(fig: Any, path: str | Path) -> None:
    """Write ``fig`` as PNG, appearing only once complete (temp file + rename)."""
    fig.tight_layout()
    with atomic.replacing(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    _pyplot().close(fig)
