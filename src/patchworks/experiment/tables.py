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
from .images import Experiment

COLUMNS = ("image", "store", "labels", "objects", "tiles", "seam_rate", "inside_rate", "status")


def write(config: dict[str, Any], images_table: str, objects_table: str,
          report: Sequence[str] = ()) -> None:
    """Both tables of the run of ``config`` (validated), every image published; with ``report`` (the
    workflow's: every image's figures made), the report's experiment page there (``counts``, ``gallery``:
    ``Layout.experiment_report``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    experiment = Experiment(config, fresh=False)
    layouts = {image: Layout.of(experiment.image_config(image)) for image in experiment.ids}
    rows = []
    for image, paths in layouts.items():
        published, seams = atomic.read_json(paths.published), atomic.read_json(paths.seams)
        rows.append({"image": image, "store": experiment.images[image].input["store"],
                     "labels": published["labels"], "objects": published["objects"],
                     "tiles": len(list(Path(paths.folder("relabel")).glob("*.json"))),
                     "seam_rate": seams["seam_rate"], "inside_rate": seams["inside_rate"],
                     "status": "published"})
    schemas = [pq.read_schema(paths.objects) for paths in layouts.values()]
    image_field = pa.field("image", pa.string())
    schema = pa.unify_schemas([pa.schema([image_field]), *schemas], promote_options="permissive")
    with atomic.replacing(objects_table) as partial, pq.ParquetWriter(partial, schema) as writer:
        for image, paths in layouts.items():
            table = pq.read_table(paths.objects)
            table = table.add_column(0, image_field, pa.array([image] * table.num_rows, pa.string()))
            for field in schema:
                if field.name not in table.column_names:
                    table = table.append_column(field, pa.nulls(table.num_rows, field.type))
            writer.write_table(table.select(schema.names).cast(schema))
    text = io.StringIO()
    csv.writer(text, delimiter="\t", lineterminator="\n").writerows(
        [COLUMNS, *(["" if row[c] is None else row[c] for c in COLUMNS] for row in rows)])
    atomic.write_text(images_table, text.getvalue())
    if report:
        from ..report import experiment as figures

        counts, gallery = report
        figures.counts_figure(rows, counts)
        figures.gallery(rows, [paths.report_files["overview"] for paths in layouts.values()], gallery)
