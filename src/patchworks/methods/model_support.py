"""What the model methods share: their config checks, fixed per-image normalisation and 2-D models
on 3-D stacks. numpy is imported where used: a served stage job hands its tile on without it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from . import Method

if TYPE_CHECKING:
    import numpy as np

    from ..pipeline.plan import Plan


class ModelMethod(Method):
    """A method with a model (``method.<name>.model``: a name or a path): Cellpose, StarDist."""

    model = True
    base_bytes = 1200 << 20  # measured on CPU: 1.05-1.23 GB peak RSS of stage jobs on 536² tiles
    weights = "weights file"  # what a path names, for messages

    @property
    def model_to_fetch(self) -> str | None:
        return None if is_path(self.section["model"]) else self.section["model"]

    def check(self, plan: Plan, import_code: bool = True) -> None:
        model = self.section["model"]
        if is_path(model) and not Path(model).exists():
            raise ConfigError(f"method.{self.name}.model: {model} does not exist; give the path of a "
                              f"{self.weights} or a model name")


def is_path(model: str) -> bool:
    """A model given as a file or folder path (as opposed to a built-in model name)."""
    return "/" in model or model.startswith(".") or model.endswith((".pth", ".pt"))


def normalized(tile: np.ndarray, intensity_range: tuple[float, float] | None) -> np.ndarray:
    """``tile`` scaled so the image's low/high percentiles map to 0/1 (float32), the same for every tile."""
    import numpy as np

    if intensity_range is None:
        raise ValueError("a model method needs the image's intensity range (the normalization job)")
    low, high = intensity_range
    scale = 1.0 / (high - low) if high > low else 1.0
    return ((tile.astype(np.float32) - np.float32(low)) * np.float32(scale)).astype(np.float32, copy=False)


def per_plane(segment_2d: Callable[[np.ndarray], np.ndarray], stack: np.ndarray) -> np.ndarray:
    """A 2-D segmentation of every z-plane of ``stack`` (z first); ids made unique across planes."""
    import numpy as np

    out = np.zeros(stack.shape[:3], dtype=np.uint32)
    offset = 0
    for z, plane in enumerate(stack):
        labels = np.asarray(segment_2d(plane)).astype(np.uint32)
        out[z] = np.where(labels > 0, labels + offset, 0)
        offset += int(labels.max()) if labels.size else 0
    return out
