"""``threshold``: a fixed or whole-image Otsu threshold followed by connected components."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from ..segment.thresholds import Threshold, above, check_representable
from . import Context, Method

if TYPE_CHECKING:
    from ..pipeline.plan import Plan

TRUNCATE = 4.0


def smoothing_radius(sigma: float) -> int:
    """Voxels a Gaussian of ``sigma`` reaches; an overlap this large makes tiles exact."""
    return int(TRUNCATE * sigma + 0.5) if sigma > 0 else 0


#: cc3d's connectivity for (ndim, patchworks connectivity). Given a uint8 mask, cc3d numbers
#: objects exactly as scipy.ndimage.label does (tests/test_exactness.py); given a bool mask it
#: numbers 2-D 8-connected objects in another order.
CC3D_CONNECTIVITY = {(2, 1): 4, (2, 2): 8, (3, 1): 6, (3, 2): 18, (3, 3): 26}


def label_above(tile: np.ndarray, value: Threshold, connectivity: int, sigma: float = 0.0) -> np.ndarray:
    """Connected components of ``tile > value`` (after Gaussian smoothing with ``sigma``), compared
    exactly in the tile's own type; NaN is background. cc3d (made for this: 1.7x faster than scipy
    at connectivity 1, 3.5x at 3, on a 128 x 1024 x 1024 tile) numbers the objects as scipy does."""
    import cc3d  # here, not at the top: the workflow's parse and other jobs skip it

    if sigma > 0:
        from scipy import ndimage

        tile = ndimage.gaussian_filter(tile.astype(np.float32), sigma, truncate=TRUNCATE)
    mask = above(tile, value).view(np.uint8)
    return cc3d.connected_components(mask, connectivity=CC3D_CONNECTIVITY[tile.ndim, connectivity],
                                     out_dtype=np.uint32)


class ThresholdMethod(Method):
    """``method.threshold``: CPU only; Otsu's threshold from the threshold job."""

    bytes_per_voxel = 8  # measured 6.4 (docs/benchmarks.md: 1,481 MB for a 160 x 1056 x 1056 uint16 block)
    base_bytes = 120 << 20  # measured: 49 MB, plus up to 2 x 32 MB of chunks being decoded or encoded

    @property
    def uses_gpu(self) -> bool:
        return False

    @property
    def needs_threshold(self) -> bool:
        return self.section["value"] == "otsu"

    def min_overlap(self) -> tuple[int, str] | None:
        sigma = self.section["smooth_sigma"]
        return smoothing_radius(sigma), f"method.threshold.smooth_sigma {sigma}"

    def check(self, plan: Plan, import_code: bool = True) -> None:
        if self.section["value"] != "otsu":  # it must stand exactly for the image's values
            check_representable("method.threshold.value", self.section["value"], plan.image.dtype)

    def build(self, context: Context) -> Any:
        value = self.section["value"]
        if value == "otsu":
            if context.threshold is None:
                raise ValueError("method.threshold.value is 'otsu' but no image threshold was computed")
            value = context.threshold
        sigma = float(self.section["smooth_sigma"])
        fn = partial(label_above, value=value, connectivity=context.connectivity, sigma=sigma)
        fn.reach = smoothing_radius(sigma)  # type: ignore[attr-defined]
        fn.sequential = True  # type: ignore[attr-defined]
        return fn


METHOD = ThresholdMethod
