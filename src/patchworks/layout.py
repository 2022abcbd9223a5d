"""Where a run keeps its files: the work directory's layout, each name written once here.

``<workdir>/<label_name>/`` holds one record per single step (``prepare.json`` ... ``published.json``),
per-tile and per-face folders (``stage/``, ``measures/``, ``planes/``, ``bands/``, ``faces/``,
``relabel/``, ``occupancy/``, ``convert/``), the stage store, the relabel table, the object table,
the report's files and one log per job (``logs/<step>/...``); in a run of many images, each image's
in ``images/<id>/``, beside the experiment's tables (``images.tsv``, ``objects.parquet``). Each record
appears only once its data are completely written. Importing this module loads nothing heavy:
status, verify, the servers and the rules use it at no cost.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

#: The object table's file name, in the work directory and beside the labels.
OBJECTS_FILE = "objects.parquet"
#: The report's files (the figures step's outputs), by name.
REPORT_FILES = {"overview": "overview.png", "tiles": "tiles.png", "volumes": "volumes.png",
                "seams": "seams.png", "seam_table": "seams.tsv", "config": "config.yaml"}


@dataclass(frozen=True)
class Layout:
    """The files of one run's work directory ``root`` (``<workdir>/<label_name>``). Per-tile paths take
    a tile number or a wildcard pattern such as ``"{tile}"``."""

    root: str

    @classmethod
    def of(cls, config: dict[str, Any]) -> Layout:
        """The files of ``config``'s image: of one image of many (``config["image"]``, its id), in the
        run's ``images/<id>``."""
        run = cls.of_run(config)
        return run if config.get("image") is None else cls(run.path("images", config["image"]))

    @classmethod
    def of_run(cls, config: dict[str, Any]) -> Layout:
        """The run's own files, whichever image ``config`` is of: its servers' logs, and for many
        images the experiment's tables."""
        return cls(os.path.join(config["workdir"], config["output"]["label_name"]))

    def path(self, *parts: str | int) -> str:
        return os.path.join(self.root, *map(str, parts))

    def folder(self, step: str) -> str:
        """The folder of a per-tile (per-face, per-region) step's records."""
        return self.path(step)

    def log(self, name: str) -> str:
        """A job's log: ``name`` is the step, or ``<step>/<job>`` for a per-tile step."""
        return self.path("logs", f"{name}.log")

    def server_log(self, name: str) -> str:
        return self.path("logs", "server", f"{name}.log")

    # one record per step of the run
    @property
    def convert_init(self) -> str:
        return self.path("convert_init.json")

    @property
    def converted(self) -> str:
        """The record of a finished conversion of a microscope file."""
        return self.path("convert.json")

    @property
    def prepare(self) -> str:
        return self.path("prepare.json")

    @property
    def threshold(self) -> str:
        return self.path("threshold.json")

    @property
    def normalization(self) -> str:
        return self.path("normalization.json")

    @property
    def model(self) -> str:
        return self.path("model.json")

    @property
    def cc(self) -> str:
        return self.path("cc.json")

    @property
    def label_image(self) -> str:
        return self.path("label_image.json")

    @property
    def pyramid(self) -> str:
        return self.path("pyramid.json")

    @property
    def published(self) -> str:
        return self.path("published.json")

    # of a run of many images
    @property
    def images_record(self) -> str:
        """The images of the run and each one's input section, as the submit host expanded them."""
        return self.path("images.json")

    def series_folder(self, series: str) -> str:
        """A time series' own folder (``timepoint: all``): the owner of its label image, and the record
        of its publication."""
        return self.path("series", series)

    def series_published(self, series: str) -> str:
        return self.path("series", series, "published.json")

    @property
    def images_table(self) -> str:
        """The experiment's table of images: one row each (id, store, labels, objects, tiles, status)."""
        return self.path("images.tsv")

    @property
    def experiment_report(self) -> dict[str, str]:
        """The report's experiment page: objects and seam check per image, the images' overviews."""
        return {"counts": self.path("report", "experiment.png"),
                "gallery": self.path("report", "gallery.png")}

    # data of the run
    @property
    def stage_store(self) -> str:
        """The staged labels: each tile's own labels, numbered 1..n."""
        return self.path("stage.zarr")

    @property
    def relabel_table(self) -> str:
        """The relabel table (cc): which staged label of which tile becomes which object."""
        return self.path("table")

    @property
    def objects(self) -> str:
        """The object table as the measure step writes it (publish places it beside the labels)."""
        return self.path(OBJECTS_FILE)

    @property
    def seams(self) -> str:
        """The seam check of the object table (the measure step's; the report shows it)."""
        return self.path("seams.json")

    @property
    def report_files(self) -> dict[str, str]:
        """The report's files (the figures step's outputs), by name."""
        return {name: self.path("report", file) for name, file in REPORT_FILES.items()}

    # per region, tile and face
    def convert_region(self, region: int | str) -> str:
        return self.path("convert", f"{region}.json")

    def occupancy(self, tile: int | str) -> str:
        return self.path("occupancy", f"{tile}.json")

    def stage_record(self, tile: int | str) -> str:
        """The stage job's record of its tile (label count, timings)."""
        return self.path("stage", f"{tile}.json")

    def measures(self, tile: int | str) -> str:
        """The stage job's partial measurements of its tile's labels."""
        return self.path("measures", f"{tile}.npz")

    def planes(self, tile: int | str) -> str:
        """The stage job's boundary planes of its tile's labels, for the face jobs."""
        return self.path("planes", f"{tile}.npz")

    def bands(self, tile: int | str) -> str:
        """The stage job's prediction in its tile's overlap band (iou stitching)."""
        return self.path("bands", f"{tile}.npz")

    def writer_lock(self, tile: int | str) -> str:
        """Held by whoever writes the tile's staged labels (one writer at a time)."""
        return self.path("writers", f"{tile}.lock")

    def face(self, tile: int | str, neighbour: int | str) -> str:
        """The label pairs touching across the face of ``tile`` and its + ``neighbour``."""
        return self.path("faces", f"{tile}-{neighbour}.npy")

    def relabel_record(self, tile: int | str) -> str:
        """The relabel job's record of its tile (the checksum of each level it wrote)."""
        return self.path("relabel", f"{tile}.json")
