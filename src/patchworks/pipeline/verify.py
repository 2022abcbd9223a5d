"""``patchworks-status --verify`` / ``--repair``: re-read the label image and find the tiles whose data
is damaged; repair: have the next run rewrite them.

Each relabel job records a checksum of each region it wrote, one per level (``io.digest``). A region
that no longer reads back as written (a lost chunk, a bad disk, a partial copy) is damaged. Verifying
only reports; repairing also removes the damaged tiles' job records and unlists the label image, so
the same ``snakemake`` command then rewrites exactly those tiles and publishes the label image again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..io import atomic
from ..io.digest import matches
from ..segment.stage import describe_tile
from .plan import Plan


@dataclass(frozen=True)
class Damage:
    tile: int
    levels: tuple[int, ...]  # levels whose share of the tile does not read back as written

    def describe(self, plan: Plan) -> str:
        return f"{describe_tile(plan.grid, self.tile)}: level(s) {', '.join(map(str, self.levels))}"


def written_digests(plan: Plan, tile: int) -> dict[int, str]:
    """The checksum each level's share of ``tile`` was written with, from its relabel record."""
    record = Path(plan.paths.relabel_record(tile))
    if not record.exists():
        return {}
    return {int(k): v for k, v in atomic.read_json(record).get("digests", {}).items()}


def find_damage(plan: Plan) -> tuple[list[Damage], int]:
    """The damaged tiles, and how many tiles had checksums to compare (bounded memory: a tile at a time)."""
    label, damaged, checked = plan.label_image, [], 0
    for tile in range(plan.grid.n_tiles):
        expected = written_digests(plan, tile)
        checked += bool(expected)
        bad = []
        for level, value in sorted(expected.items()):
            if not matches(label.read(level, tile), value):
                bad.append(level)
        if bad:
            damaged.append(Damage(tile, tuple(bad)))
    return damaged, checked


def mark_for_rewrite(plan: Plan, damaged: list[Damage]) -> None:
    """Remove the damaged tiles' relabel records and unlist the label image, so that the next run
    rewrites those tiles (every level) and publishes it again."""
    for d in damaged:
        Path(plan.paths.relabel_record(d.tile)).unlink(missing_ok=True)
    Path(plan.paths.published).unlink(missing_ok=True)
    plan.label_image.claim(str(plan.label_owner), overwrite=False)  # unlisted, marked not complete


def verify(plan: Plan, repair: bool = False) -> tuple[list[str], list[Damage]]:
    """Check every written tile (and with ``repair`` mark the damaged ones for rewriting): the report's
    lines, the damage."""
    if not plan.label_image.path.exists():
        return [f"verify: no label image yet at {plan.label_image.path}"], []
    damaged, checked = find_damage(plan)
    lines = [f"verify: {checked} of {plan.grid.n_tiles} tiles checked against their checksums, "
             f"{len(damaged)} damaged"]
    lines += [f"  damaged {d.describe(plan)}" for d in damaged]
    if damaged and repair:
        mark_for_rewrite(plan, damaged)
        lines.append("The label image is unlisted until rewritten: run the same snakemake command again "
                     "to rewrite exactly these tiles.")
    elif damaged:
        lines.append("Nothing was changed: add --repair to have the same snakemake command rewrite exactly "
                     "these tiles.")
    return lines, damaged
