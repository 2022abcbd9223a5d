"""Cellpose as a tile function for ``tile_process`` (extra ``cellpose``): the workflow's cellpose method."""

from __future__ import annotations

from typing import Any

from ..methods.cellpose import check_eval_kwargs, check_model
from ..methods.tile_fn import MethodFn


def cellpose_fn(model: str = "cyto3", *, gpu: bool = False, diameter: float | None = None,
                do_3D: bool = False, stitch_threshold: float = 0.0, nuclear_channel: int | None = None,
                intensity_range: tuple[float, float] | None = None, **eval_kwargs: Any) -> MethodFn:
    """A tile function running Cellpose: a built-in model name (``cyto3``, ``nuclei``, ...; Cellpose 4:
    ``cpsam``) or a weights file, on the GPU with ``gpu`` (Cellpose falls back to the CPU without one).

    ``diameter`` is in pixels (None: the model's own). A 3-D tile is segmented plane by plane, or in
    3-D with ``do_3D``; ``nuclear_channel`` reads that channel too. ``eval_kwargs`` go to
    ``CellposeModel.eval`` (checked now). ``tile_process`` scales every tile by the image's intensity
    range, computed once; ``intensity_range`` is for calling the function on a tile yourself.
    """
    check_model(model, "cellpose_fn(model)")
    check_eval_kwargs(eval_kwargs)
    cfg = {"model": model, "gpu": gpu, "diameter": diameter, "do_3D": do_3D,
           "stitch_threshold": stitch_threshold, "nuclear_channel": nuclear_channel,
           "eval_kwargs": eval_kwargs}
    return MethodFn({"name": "cellpose", "cellpose": cfg}, intensity_range)
