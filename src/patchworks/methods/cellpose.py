"""``cellpose``: Cellpose 3 or 4 models by name or weights file, 2-D, 3-D or 2-D per z-plane.

The model loads once per process and serves every tile that process segments. Tiles are scaled
with the image's intensity percentiles (computed once per image) and passed with
``normalize=False``, so an object cut by a tile edge sees the same intensities on both sides.
"""

from __future__ import annotations

import ast
import importlib.util
from functools import cache, partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from . import Context
from .cellpose_weights import generation as weights_generation
from .model_support import ModelMethod, is_path, normalized, per_plane

if TYPE_CHECKING:
    import numpy as np

    from ..pipeline.plan import Plan

#: eval() arguments patchworks sets itself; each has its own config key.
OWN_ARGUMENTS = {"diameter": "diameter", "do_3D": "do_3D", "anisotropy": "(the image's voxel size)",
                 "channels": "channels", "channel_axis": "channels", "z_axis": "do_3D",
                 "normalize": "normalize", "stitch_threshold": "stitch_threshold"}


#: Cellpose 4's built-in models: given any other name, Cellpose 4 loads cpsam_v2 in its place, saying so
#: only in its log (cellpose/models.py of 4.2.1.1).
CELLPOSE4_MODELS = frozenset({"cpsam", "cpsam_v2", "cpdino", "cpdino-vitb"})


#: A Cellpose-SAM stage job's CPU memory whatever its tile: its ViT-L weights, float32 (1.2 GB on disk),
#: and torch (benchmarks/cellpose_memory.py; Cellpose 3's is ModelMethod.base_bytes).
CELLPOSE4_BASE_BYTES = 2600 << 20
#: The model's own GPU memory: Cellpose-SAM about 6 GB in practice (bfloat16 weights, 0.6 GB, and a batch
#: of 256-pixel patches through 24 transformer blocks; a vendor's figure), Cellpose 3 about 1 GB (CUDA
#: context and cuDNN workspace; its weights are 26 MB). Estimates: no GPU has measured them here.
CELLPOSE4_GPU_BASE_BYTES = 6 << 30
CELLPOSE3_GPU_BASE_BYTES = 1 << 30


def model_generation(model: str) -> int | None:
    """The Cellpose generation a model is for: 4 for Cellpose-SAM's names and weights, 3 for the other
    names and Cellpose 3 weights; None for a file that is neither (or missing)."""
    if not is_path(model):
        return 4 if model in CELLPOSE4_MODELS else 3
    return weights_generation(model) if Path(model).is_file() else None


def check_model(model: str, key: str = "method.cellpose.model") -> None:
    """ConfigError for a model that the installed Cellpose would not load as given: a Cellpose 3 name
    (``cyto3``) under Cellpose 4, which would segment with another model, a Cellpose 4 name under
    Cellpose 3, or a weights file of the other generation. Nothing is checked without Cellpose."""
    try:
        installed = version("cellpose")
    except PackageNotFoundError:
        return
    major = int(installed.split(".")[0])
    if is_path(model):
        made_for = model_generation(model)
        if made_for is not None and (made_for >= 4) != (major >= 4):
            other = "pip install 'cellpose>=4' (the cellpose-sam extra)" if made_for >= 4 else \
                "pip install 'cellpose<4' (the cellpose extra)"
            raise ConfigError(f"{key}: {model} holds Cellpose {made_for} weights, which Cellpose {installed} "
                              f"(installed here) cannot load; {other}, or give weights trained with "
                              f"Cellpose {major}")
        return
    if major >= 4 and model not in CELLPOSE4_MODELS:
        raise ConfigError(f"{key}: {model!r} is not a model of Cellpose {installed} (installed here), "
                          "which would segment with its own default model (cpsam_v2) instead; install "
                          "Cellpose 3 (pip install 'cellpose<4') to use it, or use Cellpose-SAM: cpsam")
    if major < 4 and model in CELLPOSE4_MODELS:
        raise ConfigError(f"{key}: {model!r} is a Cellpose 4 (Cellpose-SAM) model, but Cellpose {installed} "
                          "is installed here; install Cellpose 4 (pip install 'cellpose>=4') to use it, or "
                          "use a Cellpose 3 model such as cyto3")


def major_version() -> int:
    """The installed Cellpose's major version (read from its metadata; torch is not imported)."""
    return int(version("cellpose").split(".")[0])


@cache
def eval_arguments() -> frozenset[str] | None:
    """Keyword arguments of the installed ``CellposeModel.eval``, read from its source without
    importing it (cheap at parse time); None when Cellpose is not installed."""
    spec = importlib.util.find_spec("cellpose")
    if spec is None or not spec.submodule_search_locations:
        return None
    source = Path(next(iter(spec.submodule_search_locations))) / "models.py"
    if not source.exists():
        return None
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ClassDef) and node.name == "CellposeModel":
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "eval":
                    args = item.args
                    return frozenset(a.arg for a in args.args + args.kwonlyargs) - {"self", "x"}
    return None


def check_eval_kwargs(kwargs: dict[str, Any]) -> None:
    """ConfigError for an eval argument patchworks sets itself or that the installed Cellpose lacks."""
    for key in kwargs:
        if key in OWN_ARGUMENTS:
            raise ConfigError(f"method.cellpose.eval_kwargs: {key!r} is set by patchworks; use "
                              f"method.cellpose.{OWN_ARGUMENTS[key]} instead")
    known = eval_arguments()
    if known is None:
        return
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ConfigError(f"method.cellpose.eval_kwargs: {', '.join(map(repr, unknown))} not accepted by the "
                          f"installed Cellpose {version('cellpose')}; accepted: {', '.join(sorted(known))}")


@cache
def load_model(model: str, gpu: bool) -> Any:
    """The Cellpose model, loaded once per process: a weights file, or a built-in model name."""
    from cellpose import models

    if Path(model).exists():
        return models.CellposeModel(gpu=gpu, pretrained_model=str(model))
    if major_version() >= 4:
        return models.CellposeModel(gpu=gpu, pretrained_model=model)
    return models.CellposeModel(gpu=gpu, model_type=model)


def fetch(model: str) -> str:
    """Download a built-in model's weights into Cellpose's cache (on the submit host); their path."""
    from cellpose import models

    if major_version() >= 4:
        get = getattr(models, "cache_model_path", None) or (lambda _: models.cache_CPSAM_model_path())
        return str(get(model))
    return str(models.model_path(model))


def segment(tile: np.ndarray, cfg: dict[str, Any], intensity_range: tuple[float, float],
            anisotropy: float | None) -> np.ndarray:
    """Cellpose masks of one tile (a trailing channel axis when a nuclear channel is read)."""
    import numpy as np

    model = load_model(cfg["model"], cfg["gpu"])
    x = normalized(tile, intensity_range)
    two_channels = cfg["nuclear_channel"] is not None
    options: dict[str, Any] = {"diameter": cfg["diameter"], "normalize": False, **cfg["eval_kwargs"]}
    if two_channels and major_version() < 4:
        options["channels"] = [1, 2]
    elif major_version() < 4:
        options["channels"] = [0, 0]

    def channel_axis(image: np.ndarray) -> dict[str, Any]:  # the trailing axis, of what eval is given
        return {"channel_axis": image.ndim - 1} if two_channels else {}

    spatial_ndim = x.ndim - two_channels
    if spatial_ndim == 3 and cfg["do_3D"]:
        masks = model.eval(x, do_3D=True, z_axis=0, anisotropy=anisotropy, **channel_axis(x), **options)[0]
    elif spatial_ndim == 3:
        masks = per_plane(lambda plane: model.eval(plane, **channel_axis(plane), **options)[0], x)
        if cfg["stitch_threshold"] > 0:
            from cellpose.utils import stitch3D

            masks = stitch3D(masks, stitch_threshold=cfg["stitch_threshold"])
    else:
        masks = model.eval(x, **channel_axis(x), **options)[0]
    return np.asarray(masks).astype(np.uint32, copy=False)


class CellposeMethod(ModelMethod):
    """``method.cellpose``: tiles rescaled by 30 / diameter, so its memory per voxel scales too."""

    # measured on the CPU at the model's own scale (Cellpose 3, benchmarks/cellpose_memory.py): peak RSS
    # grows 1.2 KB per voxel from a 256² to a 512² tile (942 -> 1,176 MB); Cellpose-SAM's stays under its
    # load peak at 512²
    bytes_per_voxel = 1200

    environment = "cellpose-gpu.yaml"

    @property
    def sam(self) -> bool:
        """Whether the model is Cellpose-SAM (Cellpose 4): a name of its, or its weights file."""
        return model_generation(self.section["model"]) == 4

    @property
    def conda_env(self) -> str:
        """The environment of the model's Cellpose generation: Cellpose-SAM's has Cellpose 4."""
        return "cellpose-sam-gpu.yaml" if self.sam else self.environment

    @property
    def base_bytes(self) -> int:
        """A stage job's memory whatever its tile, on the CPU: Cellpose-SAM's ViT-L weights (1.2 GB,
        float32 on the CPU) make it about twice Cellpose 3's (benchmarks/cellpose_memory.py)."""
        return CELLPOSE4_BASE_BYTES if self.sam else super().base_bytes

    @property
    def gpu_base_bytes(self) -> int:
        """The model's GPU memory whatever the tile (estimates: no GPU measured yet)."""
        return CELLPOSE4_GPU_BASE_BYTES if self.sam else CELLPOSE3_GPU_BASE_BYTES

    def voxel_bytes(self, image_itemsize: int) -> float:
        diameter = self.section["diameter"]
        scale = (30 / diameter) ** 2 if diameter else 1
        return super().voxel_bytes(image_itemsize) * scale

    def object_diameter(self, voxel_size: tuple[float, ...]) -> float | None:
        diameter = self.section["diameter"]
        return diameter * voxel_size[-1] if diameter else None  # pixels along x

    def check(self, plan: Plan, import_code: bool = True) -> None:
        super().check(plan, import_code)
        cfg, image = self.section, plan.image
        check_model(cfg["model"])
        check_eval_kwargs(cfg["eval_kwargs"])
        nuclear, c = cfg["nuclear_channel"], image.axis_index("c")
        if nuclear is not None and (c is None or not 0 <= nuclear < image.shape[c]):
            have = "no 'c' axis" if c is None else f"channels 0..{image.shape[c] - 1}"
            raise ConfigError(f"method.cellpose.nuclear_channel: {nuclear} is not a channel of the "
                              f"image (it has {have}); use one of its channels, or null")
        if cfg["do_3D"] and len(image.spatial_shape) != 3:
            raise ConfigError("method.cellpose.do_3D: true needs a 3-D image; this one is 2-D")

    def fetch(self) -> str:
        return fetch(self.section["model"])

    def build(self, context: Context) -> Any:
        cfg = self.section
        check_model(cfg["model"])  # in the job's environment, too (a conda env of its own)
        check_eval_kwargs(cfg["eval_kwargs"])
        size = context.voxel_size
        anisotropy = size[0] / size[1] if len(size) == 3 and size[1] > 0 else None
        fn = partial(segment, cfg=cfg, intensity_range=context.intensity_range, anisotropy=anisotropy)
        if cfg["nuclear_channel"] is not None:
            fn.extra_channels = [cfg["nuclear_channel"]]  # type: ignore[attr-defined]
        return fn


METHOD = CellposeMethod
