"""Segmentation methods, each one module of this package with one :class:`Method` subclass.

The pipeline asks a method what it needs (statistics jobs, a model fetch, a GPU, its conda
environment, memory per voxel for sizing), has it check its own config section, and has it build
the ``tile -> labels`` function its stage jobs run; it never compares a method's name. A new
method is one module here, named as its ``method.name``, with a ``METHOD`` class and its section in
``workflow/schemas/config.schema.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np

    from ..io.ngff import ImageInfo, ImageSource
    from ..pipeline.plan import Plan

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


@dataclass(frozen=True)
class Method:
    """A method as the pipeline sees it, bound to the config's ``method`` section (``config``)."""

    config: dict[str, Any]
    #: A model method: tiles scaled by the image's intensity percentiles, IoU stitching by default,
    #: the prediction in the overlap band kept.
    model: ClassVar[bool] = False
    #: Its conda environment (``envs/``), for its stage and model-fetch jobs (see ``conda_env``).
    environment: ClassVar[str] = "core.yaml"
    #: Peak bytes a stage job holds per voxel of its tile (with halo), beyond the input's own bytes
    #: (estimates unless a method says it measured them: the labels plus the method's working memory).
    bytes_per_voxel: ClassVar[float] = 32
    #: What a stage job holds whatever its tile: Python, the libraries and a model (CPU).
    base_bytes: ClassVar[int] = 200 << 20
    #: What a stage job's model holds on the GPU whatever its tile (weights, CUDA context, workspace).
    gpu_base_bytes: ClassVar[int] = 0

    @property
    def name(self) -> str:
        return self.config["name"]

    @property
    def conda_env(self) -> str:
        """Its conda environment (``envs/``): a method's own, or its model's (Cellpose 3 or 4)."""
        return self.environment

    @property
    def section(self) -> dict[str, Any]:
        """The method's own keys: ``method.<name>``."""
        return self.config.get(self.name) or {}

    @property
    def uses_gpu(self) -> bool:
        """Whether its stage jobs need a GPU."""
        return bool(self.section.get("gpu", False))

    @property
    def served(self) -> bool:
        """Whether its stage jobs hand their tiles to a tile server (``patchworks.servers.tile``)."""
        return bool(self.section.get("server", False))

    @property
    def needs_threshold(self) -> bool:
        """Whether it needs a threshold computed once from the whole image (the threshold job)."""
        return False

    @property
    def needs_intensity_range(self) -> bool:
        """Whether it needs the image's normalisation percentiles, computed once (the normalization job)."""
        return self.model

    @property
    def model_to_fetch(self) -> str | None:
        """A model it names (not a path): its weights are fetched on the submit host first."""
        return None

    @property
    def segments_image(self) -> bool:
        """Whether its tiles are read from the image (else from :meth:`tile_source`)."""
        return True

    def voxel_bytes(self, image_itemsize: int) -> float:
        """Bytes per voxel of a tile that a stage job holds (tile sizing)."""
        return self.bytes_per_voxel + image_itemsize

    def object_diameter(self, voxel_size: tuple[float, ...]) -> float | None:
        """The objects' diameter in physical units, where its config says (for overlap auto)."""
        return None

    def min_overlap(self) -> tuple[int, str] | None:
        """The overlap its labels need to match the whole image's, and the key that sets it."""
        return None

    def check(self, plan: Plan, import_code: bool = True) -> None:
        """ConfigError for a config its stage jobs cannot run (``import_code``: also import user code)."""

    def tile_source(self, image: ImageInfo) -> ImageSource | None:
        """Where its tiles are read from when not from the image."""
        return None

    def fetch(self) -> str:
        """Download the named model's weights (on the submit host); where they are."""
        raise NotImplementedError(f"method {self.name} names no model to fetch")

    def build(self, context: Context) -> TileFn:
        """The tile function its stage jobs run."""
        raise NotImplementedError


def method_of(config: dict[str, Any]) -> Method:
    """The method of the config's ``method`` section (its module imported here, so that a job imports
    only its own method)."""
    return import_module(f"{__name__}.{config['name']}").METHOD(config)
