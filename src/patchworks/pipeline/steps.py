"""One function per workflow rule; the rule scripts only call these."""

from __future__ import annotations

import contextlib
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import yaml
import zarr

from ..io import atomic, chunked, locks
from ..io.digest import digest
from ..io.labels import check_dtype_fits
from ..measure.objects import combine, merged_voxels, object_table, size_filter, write_parquet
from ..merge.downsample import downsample
from ..merge.faces import face_pairs, face_pairs_iou
from ..merge.planes import read_plane
from ..merge.relabel_table import RelabelTable, apply_lut, build_table
from ..methods import Context, TileFn, method_of
from ..segment.occupancy import region_peaks
from ..segment.stage import stage_tile
from ..segment.thresholds import Threshold, is_empty, peak
from . import checks, demo, rerun_params
from .plan import Plan


def build_demo(config: dict[str, Any]) -> None:
    demo.build(config["input"]["store"])


def convert_init(config: dict[str, Any], output: str) -> None:
    """Reuse a finished conversion of the same microscope file, or create the empty OME-Zarr; records
    the tiles the conversion's regions and chunks follow."""
    plan = Plan(config)
    conversion = plan.conversion
    reused = conversion.start(plan.grid)
    atomic.write_json(output, {"store": conversion.store, "reused": reused,
                               "tile_shape": plan.grid.tile_shape, "source": conversion.fingerprint(),
                               "regions": len(conversion.regions(plan.grid))})


def _converting(config: dict[str, Any], init_file: str) -> tuple[Plan, bool]:
    """The plan with the conversion's tiles, and whether the conversion reuses a finished store."""
    init = atomic.read_json(init_file)
    return Plan(config, tuple(init["tile_shape"])), init["reused"]


def convert_region(config: dict[str, Any], region: int, init_file: str, output: str) -> None:
    """Copy one slab of tiles of the microscope file into level 0 (its own chunks)."""
    t0 = time.perf_counter()
    plan, reused = _converting(config, init_file)
    if not reused:
        plan.conversion.write_region(plan.grid, region)
    atomic.write_json(output, {"region": region, "reused": reused, "seconds": time.perf_counter() - t0})


def convert_finish(config: dict[str, Any], init_file: str, output: str) -> None:
    """Build the image pyramid from level 0 on disk and write the NGFF metadata: the store is complete."""
    t0 = time.perf_counter()
    plan, reused = _converting(config, init_file)
    if not reused:
        plan.conversion.finish()
    atomic.write_json(output, {"store": plan.conversion.store, "levels": plan.image.n_levels,
                               "reused": reused, "seconds": time.perf_counter() - t0})


def prepare(config: dict[str, Any], output: str, tile_shape: list[int] | None = None) -> None:
    """Check the config against the input and create the empty stage store (``tile_shape``: the
    tiles as fixed on the submit host, for tile_shape "auto")."""
    plan = Plan(config, tuple(tile_shape) if tile_shape else None)
    with _series_lock(plan):  # a time series' timepoints check and reserve its label image in turn
        checks.check(plan, method=False)  # the method was checked at parse time; stage checks it again
        plan.label_image.reserve(str(plan.label_owner))
    zarr.create_array(
        plan.paths.stage_store, shape=plan.grid.shape, dtype=np.uint32, fill_value=0,
        chunks=plan.label_image.chunks(0), shards=plan.label_image.spatial_shards(0), overwrite=True,
    )
    atomic.write_json(output, {"shape": plan.grid.shape, "tile_shape": plan.grid.tile_shape,
                               "tiles": plan.grid.n_tiles, "counts": plan.grid.counts})


def image_threshold(config: dict[str, Any], output: str) -> None:
    """Otsu's threshold of the whole image, computed once from a bounded sample (padding left out)."""
    from ..segment.sampling import otsu_threshold, sample

    stats = config["statistics"]
    found = sample(Plan(config).source(), stats["sample_voxels"], stats["padding_value"])
    atomic.write_json(output, {"value": otsu_threshold(found.values), **found.summary()})


def normalization(config: dict[str, Any], output: str) -> None:
    """The image's low and high intensity percentiles, computed once from a bounded sample (padding
    left out)."""
    from ..segment.sampling import sample

    stats = config["statistics"]
    found = sample(Plan(config).source(), stats["sample_voxels"], stats["padding_value"])
    low, high = np.percentile(found.values, stats["percentiles"]).tolist()
    atomic.write_json(output, {"low": low, "high": high, "percentiles": stats["percentiles"],
                               **found.summary()})


def fetch_model(config: dict[str, Any], output: str) -> None:
    """Download a named model's weights into the method's cache (a local job, on the submit host)."""
    method = method_of(config["method"])
    weights = method.fetch()
    atomic.write_json(output, {"method": method.name, "model": method.model_to_fetch, "weights": weights})


def method_context(plan: Plan, threshold_file: str | None, normalization_file: str | None) -> Context:
    """What the method needs beyond its config, from the per-image jobs' outputs."""
    stats = atomic.read_json(normalization_file) if normalization_file else None
    return Context(
        connectivity=plan.connectivity,
        threshold=atomic.read_json(threshold_file)["value"] if threshold_file else None,
        intensity_range=(stats["low"], stats["high"]) if stats else None,
        voxel_size=plan.voxel_size,
    )


def empty_threshold(config: dict[str, Any], threshold_file: str | None) -> Threshold | None:
    """The intensity at or below which a tile is empty, or None when empty tiles are not skipped."""
    tiling = config["tiling"]
    if not tiling["skip_empty"]:
        return None
    if tiling["empty_threshold"] == "otsu":
        return atomic.read_json(threshold_file)["value"]
    return tiling["empty_threshold"]


def occupancy(config: dict[str, Any], tile: int, threshold_file: str | None, output: str) -> None:
    """Whether a tile is empty, decided on a CPU before its stage job asks for a GPU."""
    plan = Plan(config)
    peaks = region_peaks(plan.source(), plan.grid.halo(tile))  # a few chunks at a time
    atomic.write_json(output, {"tile": tile, "max": peak(peaks),
                               "empty": is_empty(peaks, empty_threshold(config, threshold_file))})


def tile_needs_gpu(occupancy_file: str | None) -> int:
    """1 if a GPU method's stage job needs its GPU: unless its tile is known to be empty (its occupancy
    record, once written)."""
    if occupancy_file and Path(occupancy_file).exists():
        return 0 if atomic.read_json(occupancy_file)["empty"] else 1
    return 1


def stage(config: dict[str, Any], tile: int, threshold_file: str | None, normalization_file: str | None,
          output: str, fn: TileFn | None = None) -> None:
    """Segment one tile with the configured method (or ``fn``, from the Python API). Its outputs (the
    stage store's chunks, bands, measurements, planes and record) have one writer at a time: a killed
    run's job still writing the tile finishes (or is killed) before this one writes."""
    plan = Plan(config)
    fn = fn or plan.method.build(method_context(plan, threshold_file, normalization_file))
    empty = empty_threshold(config, threshold_file)
    stage_store = zarr.open_array(plan.paths.stage_store, mode="r+")
    bands = plan.paths.bands(tile) if plan.keeps_bands else None
    intensity = None if plan.method.segments_image else plan.source()  # else measured in the block read
    with locks.exclusive(plan.paths.writer_lock(tile), f"tile {tile}"):
        result = stage_tile(plan.tile_source(), plan.grid, tile, fn, stage_store, empty, bands,
                            plan.paths.measures(tile), plan.paths.planes(tile), intensity)
        atomic.write_json(output, result)


def faces(config: dict[str, Any], tile: int, axis: int, output: str) -> None:
    plan = Plan(config)
    if plan.stitch == "iou":
        tiles = (tile, plan.grid.neighbour(tile, axis))
        bands = {t: np.load(plan.paths.bands(t)) for t in tiles}
        stage_store = zarr.open_array(plan.paths.stage_store, mode="r")
        pairs = face_pairs_iou(stage_store, plan.grid, tile, axis, bands, config["stitch"]["iou_threshold"])
    else:
        pairs = face_pairs(partial(read_plane, plan.grid, plan.paths.planes), plan.grid, tile, axis,
                           plan.connectivity)
    atomic.save_npy(output, pairs)


def cc(config: dict[str, Any], output: str) -> None:
    """Build the relabel table from every tile's record and face, with the size filter's removals (and
    check that ``output.dtype`` holds its ids)."""
    t0 = time.perf_counter()
    plan = Plan(config)
    counts = np.array([atomic.read_json(r)["count"] for r in plan.stage_records()], dtype=np.int64)
    table = build_table(counts, (np.load(f) for f in plan.face_files()))
    bounds = config["filter"]
    if bounds["min_volume"] is not None or bounds["max_volume"] is not None:
        voxels = merged_voxels(table, plan.measures_files())
        table = table.without(size_filter(voxels, plan.geometry.voxel_volume, bounds["min_volume"],
                                          bounds["max_volume"]))
    check_dtype_fits(table.n_objects, config["output"]["dtype"])
    table.save(plan.paths.relabel_table)
    atomic.write_json(output, {"objects": table.n_objects, "staged_labels": int(counts.sum()),
                               "merged_labels": int(table.ptr[-1]), "filtered_out": len(table.removed),
                               "seconds": time.perf_counter() - t0})


def measure(config: dict[str, Any], output: str, seams: str) -> None:
    """The object table (``output``): every tile's partial measurements combined through the relabel
    table; and its seam check (``seams``), from the bounding boxes while they are in memory."""
    from ..report.seams import seam_check

    plan = Plan(config)
    table = RelabelTable.load(plan.paths.relabel_table)
    acc = combine(table, plan.measures_files(), plan.image.dtype)
    check = seam_check(acc["bbox_start"], acc["bbox_stop"], plan.grid, plan.image.spatial_names)
    write_parquet(object_table(acc, plan.geometry, config["output"]["dtype"]), output)
    atomic.write_json(seams, check)


def label_image(config: dict[str, Any], output: str) -> None:
    """(Re)create level 0 of the label image, unlisted, for the relabel jobs to fill (a timepoint of a
    time series: create it once, for every timepoint, and keep the others' labels)."""
    plan = Plan(config)
    with _series_lock(plan):
        label = plan.label_image
        label.claim(str(plan.label_owner), config["output"]["overwrite"])
        label.create_level(0)
    atomic.write_json(output, {"labels": str(Path(label.path)), "dtype": config["output"]["dtype"]})


def pyramid(config: dict[str, Any], output: str) -> None:
    """(Re)create the empty lower levels of the label image, unlisted, for the relabel jobs to fill (a
    time series' once, as level 0)."""
    plan = Plan(config)
    label = plan.label_image
    with _series_lock(plan):
        label.claim(str(plan.label_owner), config["output"]["overwrite"])
        label.remove_levels_from(label.levels)  # left by a run with more levels
        for level in range(1, label.levels):
            label.create_level(level)
    atomic.write_json(output, {"levels": label.levels, "factors": label.factors})


def _series_lock(plan: Plan) -> contextlib.AbstractContextManager[None]:
    """Held while a timepoint of a time series creates or claims the series' label image; nothing for
    another image."""
    if not plan.config.get("series"):
        return contextlib.nullcontext()
    plan.label_owner.mkdir(parents=True, exist_ok=True)
    return locks.exclusive(plan.label_owner / "labels.lock", "the time series' label image")


def relabel(config: dict[str, Any], tile: int, output: str) -> None:
    """Apply the tile's slice of the table and write the result to level 0, then its share of every
    lower level, each downsampled from the one above in memory (level 0 is never read back)."""
    t0 = time.perf_counter()
    plan = Plan(config)
    label = plan.label_image
    lut = RelabelTable.load(plan.paths.relabel_table).tile_lut(tile).astype(config["output"]["dtype"])
    region = plan.grid.core(tile)
    data = apply_lut(lut, chunked.read(zarr.open_array(plan.paths.stage_store, mode="r"), region))
    digests = {}
    for level in range(label.levels):
        if level:
            data = downsample(data, label.factors, config["pyramid"]["method"])
        label.write(level, tile, data)
        digests[str(level)] = digest(data)
    atomic.write_json(output, {"tile": tile, "digests": digests, "seconds": time.perf_counter() - t0})


def figures(config: dict[str, Any]) -> None:
    """The report's pictures (overview, per-tile heatmaps, volume histogram, seam check) and the seam
    check's numbers, from the published labels, the object table's volumes, the measure step's seam
    check and the stage records; the config (``Layout.report_files``)."""
    import pyarrow.parquet as pq

    from ..report import figures as fig

    plan = Plan(config)
    out = plan.paths.report_files
    check = atomic.read_json(plan.paths.seams)
    fig.overview(plan, out["overview"])
    records = [atomic.read_json(r) for r in plan.stage_records()]
    fig.tile_heatmaps(plan, records, out["tiles"])
    unit = f"{plan.geometry.unit or 'voxel'}^{len(plan.image.spatial_names)}"
    volumes = pq.read_table(plan.paths.objects, columns=["volume"])["volume"].to_numpy()
    fig.volume_histogram(volumes, unit, config["filter"], out["volumes"])
    fig.seam_figure(check, out["seams"])
    atomic.write_text(out["seam_table"], seam_rows(check))
    atomic.write_text(out["config"], yaml.safe_dump(rerun_params.report_config(plan)))


def seam_rows(check: dict[str, Any]) -> str:
    """The seam check as tab-separated rows, one per seam."""
    keys = ["axis", "position", "ends", "crossing", "rate", "control_position", "control_ends",
            "control_crossing", "control_rate"]
    rows = ["\t".join(keys)] + ["\t".join("" if s[k] is None else f"{s[k]:.4f}" if isinstance(s[k], float)
                                          else str(s[k]) for k in keys) for s in check["seams"]]
    return "\n".join(rows) + "\n"


def publish(config: dict[str, Any], output: str) -> None:
    """Place the object table beside the labels, write the NGFF metadata and list the label image: only
    now does it look complete."""
    plan = Plan(config)
    summary = atomic.read_json(plan.paths.cc)
    if not plan.label_image.time:  # a time series is published whole, by its series step
        atomic.copy(plan.paths.objects, plan.label_image.table_path)
        plan.label_image.publish(str(plan.workdir), summary["objects"])
    atomic.write_json(output, {"labels": str(Path(plan.label_image.path)), "objects": summary["objects"],
                               "levels": plan.label_image.levels, "table": str(plan.label_image.table_path)})
