"""The checks of a run's config against its input, all made before any job runs (at the Snakefile's
parse, by ``patchworks.run``, and again by the prepare job): one ConfigError / InputError naming the key
and the fix."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..errors import ConfigError
from ..io.labels import overwrite_message
from ..io.ngff import fixed_indices
from ..segment.thresholds import check_representable
from .plan import Plan


def check(plan: Plan, method: bool = True) -> None:
    """Every check of a run's config that needs the input's metadata; raises ConfigError/InputError.

    ``method=False`` skips importing user code (a custom method: the Python API passes a callable).
    """
    _ = plan.grid, plan.connectivity, plan.label_image
    fixed_indices(plan.image, plan.config["input"]["channel"], plan.config["input"]["timepoint"])
    plan.method.check(plan, import_code=method)
    if plan.stitch == "iou" and min(plan.grid.overlap) < 1:
        raise ConfigError("stitch.mode: iou compares predictions in the overlap band, but "
                          f"tiling.overlap is {list(plan.grid.overlap)}; set tiling.overlap >= 1 "
                          "(about an object's diameter), or stitch.mode: touch")
    if plan.conversion:
        plan.conversion.check()
    elif plan.config["input"]["scene"] is not None:
        raise ConfigError(f"input.scene: {plan.config['input']['scene']!r} is for microscope files; "
                          f"{plan.config['input']['store']} is an OME-Zarr (one image): remove it")
    _paths(plan)
    _thresholds(plan)
    _writable(plan)
    _overwrite(plan)


def _thresholds(plan: Plan) -> None:
    """Numeric thresholds must stand exactly for the image's values (see segment.thresholds)."""
    tiling = plan.config["tiling"]
    if tiling["skip_empty"] and tiling["empty_threshold"] != "otsu":
        check_representable("tiling.empty_threshold", tiling["empty_threshold"], plan.image.dtype)


def _paths(plan: Plan) -> None:
    inp = Path(plan.store).resolve()
    paths = (("output.store", plan.config["output"]["store"]), ("workdir", plan.config["workdir"]))
    for key, value in paths:
        if value is None:
            continue
        p = Path(value).resolve()
        if p == inp or inp in p.parents:
            raise ConfigError(f"{key}: {value} is the input store {inp} or inside it; "
                              "choose a path outside it (labels go into the input store by default)")


def _writable(plan: Plan) -> None:
    """The labels' store and the work directory must take new files before any job runs."""
    out = plan.config["output"]
    label_key = "output.store" if out["store"] else "input.store"
    fix = {"output.store": "choose a writable output.store",
           "input.store": "the labels go into the image's store by default: set output.store to a "
                          "writable place for them, or make the image's store writable"}
    fix["workdir"] = "choose a writable workdir"
    for key, path in ((label_key, plan.label_image.path), ("workdir", plan.workdir)):
        existing = Path(path).absolute()
        while not existing.exists():
            existing = existing.parent
        try:
            with tempfile.TemporaryFile(dir=existing):  # unnamed where the OS allows (O_TMPFILE)
                pass
        except OSError as err:
            raise ConfigError(f"{key}: {existing} is not writable ({err.strerror}); "
                              f"{fix[key]}") from err


def _overwrite(plan: Plan) -> None:
    label = plan.label_image
    if not label.path.exists() or plan.config["output"]["overwrite"]:
        return
    if label.owner() != str(plan.label_owner.resolve()) or not plan.label_owner.exists():
        raise ConfigError(overwrite_message(label))
