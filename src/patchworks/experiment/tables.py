"""The experiment's outputs, in the run's work folder: ``images.tsv`` (one row per image),
``objects.parquet`` (every image's objects, with an ``image`` column, written one image at a time:
memory is bounded by the largest image's table) and the report's experiment page."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..io import atomic
from ..layout import Layout
from ..measure.objects import stack_tables
from .images import Experiment

COLUMNS = ("image", "t", "store", "labels", "objects", "tiles", "seam_rate", "inside_rate", "status")


def write(config: dict[str, Any], images_table: str, objects_table: str,
          report: Sequence[str] = ()) -> None:
    """Both tables of the run of ``config`` (validated), every image published; with ``report`` (the
    workflow's: every image's figures made), the report's experiment page there (``counts``, ``gallery``:
    ``Layout.experiment_report``)."""
    experiment = Experiment(config, fresh=False)
    layouts = {image: Layout.of(experiment.image_config(image)) for image in experiment.ids}
    rows, parts = [], []
    for image, paths in layouts.items():
        published, seams = atomic.read_json(paths.published), atomic.read_json(paths.seams)
        series = experiment.images[image].series  # a timepoint: its series' id and its index
        leading = {"image": series["id"], "t": series["t"]} if series else {"image": image, "t": None}
        parts.append((leading, paths.objects))
        rows.append({**leading, "store": experiment.images[image].input["store"],
                     "labels": published["labels"], "objects": published["objects"],
                     "tiles": len(list(Path(paths.folder("relabel")).glob("*.json"))),
                     "seam_rate": seams["seam_rate"], "inside_rate": seams["inside_rate"],
                     "status": "published"})
    stack_tables(parts, objects_table)
    text = io.StringIO()
    csv.writer(text, delimiter="\t", lineterminator="\n").writerows(
        [COLUMNS, *(["" if row[c] is None else row[c] for c in COLUMNS] for row in rows)])
    atomic.write_text(images_table, text.getvalue())
    if report:
        from ..report import experiment as figures

        counts, gallery = report
        figures.counts_figure(rows, counts)
        figures.gallery(rows, [paths.report_files["overview"] for paths in layouts.values()], gallery)
