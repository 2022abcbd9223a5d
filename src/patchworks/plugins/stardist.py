"""StarDist as a tile function for ``tile_process`` (extra ``stardist``): the workflow's stardist method."""

from __future__ import annotations

from ..methods.tile_fn import MethodFn


def stardist_fn(model: str, *, prob_thresh: float | None = None, nms_thresh: float | None = None,
                gpu: bool = False, intensity_range: tuple[float, float] | None = None) -> MethodFn:
    """A tile function running a StarDist model (folder or registered name): the workflow's stardist
    method (tiles scaled by the image's intensity range in ``tile_process``; ``intensity_range`` for
    calling it on a tile yourself)."""
    cfg = {"model": model, "prob_thresh": prob_thresh, "nms_thresh": nms_thresh, "gpu": gpu}
    return MethodFn({"name": "stardist", "stardist": cfg}, intensity_range)
