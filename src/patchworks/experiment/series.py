"""A time series (``input.timepoint: all``): its timepoints are segmented as images of their own and
written into one label image with a t axis; once all are written, the series is published whole."""

from __future__ import annotations

from typing import Any

from ..io import atomic
from ..measure.objects import stack_tables
from .images import Experiment


def publish(config: dict[str, Any], series: str, output: str) -> None:
    """Write the series' NGFF metadata (its t axis, a colour for every id of its fullest timepoint), place
    its object table beside the labels (every timepoint's objects, with a ``t`` column) and list it."""
    experiment = Experiment(config, fresh=False)
    plans = [experiment.plan(image) for image in experiment.series[series]]
    label = plans[0].label_image
    objects = [atomic.read_json(plan.paths.cc)["objects"] for plan in plans]
    parts = [({"t": plan.config["series"]["t"]}, plan.paths.objects) for plan in plans]
    stack_tables(parts, label.table_path)
    label.publish(str(plans[0].label_owner), max(objects))
    atomic.write_json(output, {"labels": str(label.path), "timepoints": len(plans), "objects": objects,
                               "table": str(label.table_path)})
