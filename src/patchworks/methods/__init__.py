"""Segmentation methods: each turns the method config into a ``tile -> labels`` function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

#: A tile function. Optional attributes tell the stage step more about it: ``reach`` (the voxels
#: around a tile that its labels inside the tile depend on: 0 for a pointwise threshold; the halo
#: read is cut to it), ``sequential`` (it returns a new array numbered 1..n, kept as is where the
#: block read is the tile: no renumbering) and ``extra_channels`` (channels stacked on a last axis).
TileFn = Callable[["np.ndarray"], "np.ndarray"]


@dataclass(frozen=True)
class Context:
    """What a method may need beyond its config: computed once per image, the same for every tile."""

    connectivity: int
    threshold: float | None = None  # the image's Otsu threshold (threshold job)
    intensity_range: tuple[float, float] | None = None  # the image's normalisation percentiles
    voxel_size: tuple[float, ...] = ()  # physical size of a voxel along each spatial axis


MODEL_METHODS = ("cellpose", "stardist")


def build_method(method: dict[str, Any], context: Context) -> TileFn:
    """The tile function for the ``method`` section of the config: the ``build`` of the method's module
    (imported here, so that a job imports only its own method)."""
    return import_module(f"{__name__}.{method['name']}").build(method, context)


def needs_image_threshold(method: dict[str, Any]) -> bool:
    """Whether the method needs a threshold computed once from the whole image."""
    return method["name"] == "threshold" and method["threshold"]["value"] == "otsu"


def needs_intensity_range(method: dict[str, Any]) -> bool:
    """Whether the method needs normalisation percentiles computed once from the whole image."""
    return method["name"] in MODEL_METHODS


def uses_gpu(method: dict[str, Any]) -> bool:
    """Whether the method's stage jobs need a GPU."""
    return bool(method.get(method["name"], {}).get("gpu", False)) and method["name"] != "threshold"


def model_to_fetch(method: dict[str, Any]) -> str | None:
    """A model named (not a path) by a model method: its weights are fetched before the GPU jobs."""
    if method["name"] not in MODEL_METHODS:
        return None
    return None if is_path(method[method["name"]]["model"]) else method[method["name"]]["model"]


def is_path(model: str) -> bool:
    """A model given as a file or folder path (as opposed to a built-in model name)."""
    return "/" in model or model.startswith(".") or model.endswith((".pth", ".pt"))
