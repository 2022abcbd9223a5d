"""``stardist``: StarDist 2-D and 3-D models by name or model folder; 2-D models per z-plane.

The model loads once per process. Tiles are scaled with the image's intensity percentiles
(computed once per image), so an object cut by a tile edge sees the same intensities on both sides.
"""

from __future__ import annotations

import json
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import Context
from .model_support import ModelMethod, normalized, per_plane

if TYPE_CHECKING:
    import numpy as np


@cache
def load_model(model: str) -> Any:
    """A StarDist model, loaded once per process: a model folder (config.json, weights) or a
    registered pretrained name such as ``2D_versatile_fluo``."""
    from stardist.models import StarDist2D, StarDist3D

    folder = Path(model)
    if folder.is_dir():
        n_dim = json.loads((folder / "config.json").read_text()).get("n_dim", 2)
        cls = StarDist3D if n_dim == 3 else StarDist2D
        return cls(None, name=folder.name, basedir=str(folder.parent))
    for cls in (StarDist2D, StarDist3D):
        found = cls.from_pretrained(model)
        if found is not None:
            return found
    raise ValueError(f"method.stardist.model: {model!r} is neither a model folder nor a registered "
                     "pretrained StarDist model")


def fetch(model: str) -> str:
    """Download a registered pretrained model into Keras' cache (on the submit host)."""
    load_model(model)
    return model


def segment(tile: np.ndarray, cfg: dict[str, Any], intensity_range: tuple[float, float]) -> np.ndarray:
    """StarDist instance labels of one tile."""
    import numpy as np

    model = load_model(cfg["model"])
    x = normalized(tile, intensity_range)
    options = {"prob_thresh": cfg["prob_thresh"], "nms_thresh": cfg["nms_thresh"], "verbose": False}

    def predict(image: np.ndarray) -> np.ndarray:
        return model.predict_instances(image, **options)[0]

    if x.ndim == 3 and model.config.n_dim == 2:
        return per_plane(predict, x)
    if x.ndim != model.config.n_dim:
        raise ValueError(f"a {model.config.n_dim}-D StarDist model cannot segment a {x.ndim}-D tile")
    return np.asarray(predict(x)).astype(np.uint32, copy=False)


class StarDistMethod(ModelMethod):
    """``method.stardist``."""

    environment = "stardist-gpu.yaml"
    bytes_per_voxel = 400  # an estimate: the labels plus the network's activations
    weights = "model folder"

    def fetch(self) -> str:
        return fetch(self.section["model"])

    def build(self, context: Context) -> Any:
        return partial(segment, cfg=self.section, intensity_range=context.intensity_range)


METHOD = StarDistMethod
