"""What declaring every file a job reads would cost the DAG: ``snakemake -n`` with the relabel rule as
it is (its input: ``pyramid.json``, which orders it after cc and the pyramid) against the same rule
listing what its job also reads (the tile's stage record and ``cc.json``, for the stage store and the
relabel table), on a metadata-only image; the two alternate, each ``--repeats`` times.

    python benchmarks/rule_inputs.py [--tiles 4000] [--repeats 2]

The figures are quoted in ``workflow/rules/common.smk``.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import REPO, dry_run, our_config, snakemake_cmd  # noqa: E402
from synthetic import write_image  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiles", type=int, default=4000)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rule-inputs-"))
    variant = root / "repo"  # the repository with the relabel rule listing what its job reads
    shutil.copytree(REPO, variant, ignore=shutil.ignore_patterns(".git", ".venv", ".cache", ".snakemake",
                                                                  "patchworks-work", "resources"))
    rule = variant / "workflow" / "rules" / "relabel.smk"
    text = rule.read_text()
    rule.write_text(text.replace('        paths.pyramid,\n', '        paths.pyramid,\n        '
                                 'paths.stage_record("{tile}"),\n        paths.cc,\n'))
    assert rule.read_text() != text, "relabel.smk no longer lists paths.pyramid as its input"
    tile = [8, 64, 64]
    ny = int(math.sqrt(args.tiles // 10))
    shape = (10 * tile[0], ny * tile[1], args.tiles // 10 // ny * tile[2])
    write_image(root / "image.zarr", shape, tuple(tile), levels=1, data=False)
    cfg = root / "config.yaml"
    cfg.write_text(yaml.safe_dump(our_config(root / "image.zarr", root / "work", "dag", tile, 4, 1000)))
    walls: dict[str, list[float]] = {"as is": [], "every read listed": []}
    for _ in range(args.repeats):
        for name, repo in (("as is", REPO), ("every read listed", variant)):
            cmd = snakemake_cmd(cfg, root, 1, "-n")
            cmd[cmd.index("--snakefile") + 1] = str(repo / "Snakefile")
            wall, rss = dry_run(cmd)
            walls[name].append(wall)
            print(f"{name}: {wall:.1f} s, {rss:.0f} MB", file=sys.stderr)
    base = statistics.median(walls["as is"])
    for name, values in walls.items():
        print(f"{args.tiles} tiles, relabel {name}: median {statistics.median(values):.1f} s "
              f"({statistics.median(values) / base:.2f}x)")
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
