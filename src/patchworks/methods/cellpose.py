"""``cellpose``: Cellpose 3 or 4 models by name or weights file, 2-D, 3-D or 2-D per z-plane.

The model loads once per process and serves every tile that process segments. Tiles are scaled
with the image's intensity percentiles (computed once per image) and passed with
``normalize=False``, so an object cut by a tile edge sees the same intensities on both sides.
"""

from __future__ import annotations

import ast
import importlib.util
from functools import cache, partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .model_support import normalized, per_plane

#: eval() arguments patchworks sets itself; each has its own config key.
OWN_ARGUMENTS = {"diameter": "diameter", "do_3D": "do_3D", "anisotropy": "(the image's voxel size)",
                 "channels": "channels", "channel_axis": "channels", "z_axis": "do_3D",
                 "normalize": "normalize", "stitch_threshold": "stitch_threshold"}


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
    model = load_model(cfg["model"], cfg["gpu"])
    x = normalized(tile, intensity_range)
    two_channels = cfg["nuclear_channel"] is not None
    options: dict[str, Any] = {"diameter": cfg["diameter"], "normalize": False, **cfg["eval_kwargs"]}
    if two_channels:
        options["channel_axis"] = x.ndim - 1
        if major_version() < 4:
            options["channels"] = [1, 2]
    elif major_version() < 4:
        options["channels"] = [0, 0]
    spatial_ndim = x.ndim - two_channels
    if spatial_ndim == 3 and cfg["do_3D"]:
        masks = model.eval(x, do_3D=True, z_axis=0, anisotropy=anisotropy, **options)[0]
    elif spatial_ndim == 3:
        masks = per_plane(lambda plane: model.eval(plane, **options)[0], x)
        if cfg["stitch_threshold"] > 0:
            from cellpose.utils import stitch3D

            masks = stitch3D(masks, stitch_threshold=cfg["stitch_threshold"])
    else:
        masks = model.eval(x, **options)[0]
    return np.asarray(masks).astype(np.uint32, copy=False)


def build(method: dict[str, Any], context: Any) -> Any:
    """Tile function for the config's ``method.cellpose`` section."""
    cfg = method["cellpose"]
    check_eval_kwargs(cfg["eval_kwargs"])
    size = context.voxel_size
    anisotropy = size[0] / size[1] if len(size) == 3 and size[1] > 0 else None
    fn = partial(segment, cfg=cfg, intensity_range=context.intensity_range, anisotropy=anisotropy)
    if cfg["nuclear_channel"] is not None:
        fn.extra_channels = [cfg["nuclear_channel"]]  # type: ignore[attr-defined]
    return fn
