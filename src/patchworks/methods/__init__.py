"""Segmentation methods: each turns the method config into a ``tile -> labels`` function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import custom, threshold

TileFn = Callable[[np.ndarray], np.ndarray]

#: Method name -> builder taking (method config, connectivity, image threshold or None).
BUILDERS: dict[str, Callable[..., TileFn]] = {
    "threshold": threshold.build,
    "custom": custom.build,
}


def build_method(method: dict[str, Any], connectivity: int, threshold_value: float | None) -> TileFn:
    """The tile function for the ``method`` section of the config."""
    return BUILDERS[method["name"]](method, connectivity=connectivity, threshold_value=threshold_value)


def needs_image_threshold(method: dict[str, Any]) -> bool:
    """Whether the method needs a threshold computed once from the whole image."""
    return method["name"] == "threshold" and method["threshold"]["value"] == "otsu"


def uses_gpu(method: dict[str, Any]) -> bool:
    """Whether the method's stage jobs need a GPU."""
    return method["name"] == "custom" and bool(method["custom"]["gpu"])
