"""The images of a run and each one's config: one image (``input.store``), or many (``input.sheet``, a
glob, ``input.scene: all``, an HCS plate), each segmented on its own with the run's method and tiling.

An image's config is the run's, with its own ``input`` section, ``image`` (its id: its work folder is
``<workdir>/<label_name>/images/<id>``), its own ``output.store`` (``<output.store>/<id>.zarr``) and
converted store. Expanding the images reads metadata only (a sheet, a directory listing, a plate's and
its wells' metadata, the scene list of a file); the submit host writes the expansion to
``images.json`` in the run's work folder, and the processes of its jobs read it from there instead of
expanding again (when its input section is the same; else they expand it themselves).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..io import atomic
from ..layout import Layout
from . import sources
from .sheet import read_sheet

if TYPE_CHECKING:
    from ..pipeline.plan import Plan

ID = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class Image:
    """One image of a run: its id and its ``input`` section; a timepoint of a time series (``timepoint:
    all``) also its ``series``: the series' id, the timepoint and the number of timepoints."""

    id: str
    input: dict[str, Any]
    series: dict[str, Any] | None = None


def is_many(config: dict[str, Any]) -> bool:
    """Whether the run's input names many images (even if it turns out to hold one)."""
    inp = config["input"]
    return bool(inp["sheet"] or sources.is_glob(inp["store"]) or "all" in (inp["scene"], inp["timepoint"])
                or sources.is_plate(inp["store"]))


def expand(config: dict[str, Any]) -> list[Image]:
    """Every image the run's ``input`` section names, in order; ConfigError on a duplicate or bad id."""
    inp = config["input"]
    if inp["sheet"]:
        named = [(row.pop("image"), {**inp, "sheet": None, **row}) for row in read_sheet(inp["sheet"])]
    elif sources.is_glob(inp["store"]):
        named = [(sources.stem(path), {**inp, "store": path}) for path in sources.glob_stores(inp["store"])]
    else:
        named = [(None, inp)]
    images: dict[str, Image] = {}
    for base, given in named:
        for image in (frame for one in _images_of(base, given) for frame in _timepoints(one)):
            if not ID.match(image.id):
                raise ConfigError(f"input: the image id {image.id!r} (of {image.input['store']}) may hold "
                                  "letters, digits, . _ - only; rename the file, or list it in input.sheet "
                                  "with an id of its own")
            if image.id in images:
                first = images[image.id].input["store"]
                raise ConfigError(f"input: two images are named {image.id!r} ({first} and "
                                  f"{image.input['store']}); give them ids of their own in input.sheet")
            images[image.id] = image
    return list(images.values())


def _images_of(base: str | None, inp: dict[str, Any]) -> list[Image]:
    """The images of one store: a plate's fields, a file's scenes (``scene: all``), or the store itself."""
    store = inp["store"]
    if (fields := sources.plate_fields(store)) is not None:
        return [Image(_join(base, name), {**inp, "store": path}) for name, path in fields]
    if inp["scene"] == "all":
        if not Path(store).is_file():
            raise ConfigError(f"input.scene: all makes one image per scene of a microscope file, but {store} "
                              "is not a file (an OME-Zarr image holds one scene); leave input.scene out")
        count = len(sources.scenes(store))
        return [Image(_join(base or sources.stem(store), f"s{i}"), {**inp, "scene": i}) for i in range(count)]
    return [Image(base or sources.stem(store), inp)]


def _timepoints(image: Image) -> list[Image]:
    """``timepoint: all``: each timepoint of the image is an image of its own, ``<id>_t<index>``, all
    written into the series' one label image (its t axis)."""
    if image.input["timepoint"] != "all":
        return [image]
    store = image.input["store"]
    if Path(store).is_file():
        raise ConfigError(f"input.timepoint: all needs an OME-Zarr, and {store} is a microscope file; "
                          "convert it first (patchworks convert keeps every timepoint) and give the OME-Zarr")
    from ..io.ngff import read_image_info

    info = read_image_info(store, image.input["level"])
    t = info.axis_index("t")
    count = 1 if t is None else info.shape[t]
    return [Image(f"{image.id}_t{k}", {**image.input, "timepoint": k},
                  {"id": image.id, "t": k, "count": count}) for k in range(count)]


def _join(base: str | None, part: str) -> str:
    return f"{base}_{part}" if base else part


class Experiment:
    """The images of a run (``config``: validated): their ids, each one's config and plan (built when
    first asked for). ``fresh``: expand the images now and record them (the submit host); else read
    them from the record when it matches the config."""

    def __init__(self, config: dict[str, Any], fresh: bool = True) -> None:
        self.config = config
        self.fresh = fresh
        self.many = is_many(config)
        if self.many and config["input"]["demo"]:
            raise ConfigError("input.demo: the demo is one image; leave input.demo out for many images")
        self._plans: dict[str | None, Plan] = {}

    @property
    def run_paths(self) -> Layout:
        """The run's own files (for many images: the experiment's tables)."""
        return Layout.of(self.config)

    @property
    def paths(self) -> Layout:
        """The files of the run's image: for many, patterns with the wildcard ``{image}``."""
        return Layout.of(self.image_config_of("{image}") if self.many else self.config)

    @cached_property
    def images(self) -> dict[str, Image]:
        if not self.many:
            return {}
        record = Path(self.run_paths.images_record)
        key = self._key()
        if not self.fresh and record.exists():
            recorded = atomic.read_json(record)
            if recorded["key"] == key:
                return {i["id"]: Image(i["id"], i["input"], i["series"]) for i in recorded["images"]}
        images = {image.id: image for image in expand(self.config)}
        if self.fresh:
            content = {"key": key, "images": [{"id": i.id, "input": i.input, "series": i.series}
                                              for i in images.values()]}
            if not record.exists() or atomic.read_json(record) != content:
                record.parent.mkdir(parents=True, exist_ok=True)
                atomic.write_json(record, content)
        return images

    def _key(self) -> dict[str, Any]:
        """What the expansion depends on besides the files it lists: the input section and the sheet."""
        sheet = self.config["input"]["sheet"]
        stat = os.stat(sheet) if sheet and os.path.exists(sheet) else None
        return json.loads(json.dumps({"input": self.config["input"], "cwd": os.getcwd(),
                                      "sheet": [stat.st_size, stat.st_mtime_ns] if stat else None}))

    @property
    def converts(self) -> bool:
        """Whether an image of the run is a microscope file, converted to OME-Zarr first."""
        from ..convert.source import is_microscope_file

        if not self.many:
            return self.plan(None).conversion is not None
        return any(is_microscope_file(image.input["store"]) for image in self.images.values())

    @property
    def ids(self) -> list[str]:
        return list(self.images)

    def image_config(self, image: str | None) -> dict[str, Any]:
        """The config of image ``image`` (None: the run's one image)."""
        if image is None:
            if self.many:
                raise ConfigError("this run has many images; name one")
            return self.config
        if image not in self.images:
            raise ConfigError(f"input: no image {image!r} in this run; its images: {', '.join(self.ids[:10])}"
                              + (" ..." if len(self.ids) > 10 else ""))
        found = self.images[image]
        return self.image_config_of(image, found.input, found.series)

    def image_config_of(self, image: str, inp: dict[str, Any] | None = None,
                        series: dict[str, Any] | None = None) -> dict[str, Any]:
        """The run's config for an image ``image`` of input section ``inp``: its own work folder, output
        store (a timepoint's: its series') and converted store."""
        out, conv = self.config["output"], self.config["convert"]
        name = series["id"] if series else image
        store = str(Path(out["store"]) / f"{name}.zarr") if out["store"] else None
        converted = str(Path(conv["store"] or Path(self.config["workdir"]).parent) / f"{image}.ome.zarr")
        return {**self.config, "image": image, "series": series, "input": inp or self.config["input"],
                "output": {**out, "store": store}, "convert": {**conv, "store": converted}}

    @cached_property
    def series(self) -> dict[str, list[str]]:
        """The time series of the run: each one's id -> its timepoints' images, in time order."""
        found: dict[str, list[str]] = {}
        for image in self.images.values():
            if image.series:
                found.setdefault(image.series["id"], []).append(image.id)
        return found

    def plan(self, image: str | None) -> Plan:
        """The plan of image ``image`` (None: the run's one image), built once."""
        from ..pipeline.plan import Plan

        if image not in self._plans:
            self._plans[image] = Plan(self.image_config(image))
        return self._plans[image]

    def plans(self) -> list[Plan]:
        """Every image's plan (one for a run of one image)."""
        return [self.plan(image) for image in self.ids] if self.many else [self.plan(None)]
