"""The experiment's tables, in the run's work folder: ``images.tsv`` (one row per image) and
``objects.parquet`` (every image's objects, with an ``image`` column). Written one image at a time:
memory is bounded by the largest image's table."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ..io import atomic
from ..layout import Layout
from .images import Experiment

COLUMNS = ("image", "store", "labels", "objects", "tiles", "status")


def write(config: dict[str, Any], images_table: str, objects_table: str) -> None:
    """Both tables of the run of ``config`` (validated), every image published."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    experiment = Experiment(config, fresh=False)
    layouts = {image: Layout.of(experiment.image_config(image)) for image in experiment.ids}
    rows = []
    for image, paths in layouts.items():
        published = atomic.read_json(paths.published)
        rows.append({"image": image, "store": experiment.images[image].input["store"],
                     "labels": published["labels"], "objects": published["objects"],
                     "tiles": len(list(Path(paths.folder("relabel")).glob("*.json"))), "status": "published"})
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
        [COLUMNS, *([row[c] for c in COLUMNS] for row in rows)])
    atomic.write_text(images_table, text.getvalue())
