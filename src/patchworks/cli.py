"""The ``patchworks`` command: one sub-command per task (``convert``, ``status``, ``info``, ``view``).

Each ``add_<name>`` function below adds one sub-command to the parser and sets the function that
runs it; a new sub-command is one more such function listed in COMMANDS.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from . import __version__
from .errors import PatchworksError


def add_convert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert a microscope file to a calibrated, pyramidal OME-Zarr",
                       description="Convert SRC (CZI, LIF, ND2, OME-TIFF, TIFF, Imaris .ims) to the OME-Zarr "
                       "DST, lazily and in bounded memory; a finished conversion of the same file is reused.")
    p.add_argument("src", help="the microscope file")
    p.add_argument("dst", help="the OME-Zarr to write (NGFF 0.5)")
    p.add_argument("--scene", help="scene (series) index or name; required when the file has several")
    p.add_argument("--levels", default="auto", help="resolution levels (y/x halved per level, z kept), "
                   "or 'auto' (default)")
    p.add_argument("--tile-shape", type=int, nargs="+", default=[512], metavar="N",
                   help="slab and chunk sizing: one number, or one per spatial axis (default 512)")
    p.add_argument("--workers", type=int, default=1, help="processes converting slabs at once (default 1)")
    p.set_defaults(run=run_convert)


def run_convert(args: argparse.Namespace) -> int:
    from .io.ngff import read_image_info
    from .plugins.ome_zarr import to_ome_zarr

    scene = int(args.scene) if args.scene is not None and args.scene.isdigit() else args.scene
    levels = int(args.levels) if args.levels.isdigit() else args.levels
    tile = args.tile_shape[0] if len(args.tile_shape) == 1 else args.tile_shape
    dst = to_ome_zarr(args.src, args.dst, scene=scene, levels=levels, tile_shape=tile, workers=args.workers)
    info = read_image_info(dst)
    scale = ", ".join(f"{a.name}={s:g}{' ' + a.unit if a.unit else ''}" for a, s in zip(info.axes, info.scale)
                      if a.type == "space")
    print(f"{dst}: {info.n_levels} level(s), shape {info.shape} ({''.join(a.name for a in info.axes)}), "
          f"{info.dtype}, voxel size {scale}")
    return 0


def add_status(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", add_help=False, help="jobs done, failed, running and pending of a run "
                       "(patchworks status [CONFIG]; the same as patchworks-status)")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(run=run_status)


def run_status(args: argparse.Namespace) -> int:
    from .pipeline.status import main

    return main(args.args + args.extra)


def add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="levels, chunks and codecs of an OME-Zarr; its label images and their "
                       "object counts", description="Describe the OME-Zarr STORE from its metadata: each "
                       "level's shape, chunks and codecs, and each listed label image with its object count.")
    p.add_argument("store", help="the OME-Zarr (or a store holding labels/)")
    p.set_defaults(run=run_info)


def run_info(args: argparse.Namespace) -> int:
    from .io.describe import describe

    print("\n".join(describe(args.store)))
    return 0


def add_view(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("view", help="open an OME-Zarr and its labels in napari (extra napari)",
                       description="Open the image STORE (every level, in its physical units) and its label "
                       "images in napari, the labels shown on the image's axes.")
    p.add_argument("store", help="the OME-Zarr image")
    p.add_argument("--labels", nargs="+", metavar="PATH", help="label images to open (default: those listed "
                   "in STORE/labels); an NGFF label group or a single array on the image's grid")
    p.add_argument("--screenshot", metavar="PNG", help="save a picture of the view to PNG and close the "
                   "window again")
    p.set_defaults(run=run_view)


def run_view(args: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("napari") is None:
        print("patchworks view: error: napari is not installed; pip install 'patchworks[napari]'",
              file=sys.stderr)
        return 2
    from .plugins.napari import view_in_napari

    viewer = view_in_napari(args.store, args.labels, show=not args.screenshot)
    if args.screenshot:  # napari draws only a shown window: show it, take the picture, close it
        viewer.window.show()
        viewer.screenshot(args.screenshot, canvas_only=True)
        print(f"{args.screenshot}: layers {', '.join(layer.name for layer in viewer.layers)}")
        viewer.close()
    return 0


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [add_convert, add_status, add_info, add_view]


def parser() -> argparse.ArgumentParser:
    """The command line of ``patchworks``: one subcommand per tool."""
    parser = argparse.ArgumentParser(prog="patchworks", description="patchworks: tile-by-tile segmentation "
                                     "of huge microscopy images, and the tools around it")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def reference() -> str:
    """The command-line reference (Markdown): every command's help, as ``--help`` prints it."""
    import os

    from .pipeline import status

    width, os.environ["COLUMNS"] = os.environ.get("COLUMNS"), "100"  # argparse wraps to the terminal's
    try:
        cli = parser()
        commands = next(a for a in cli._actions if isinstance(a, argparse._SubParsersAction))
        parts = [("patchworks", cli.format_help())]
        parts += [(f"patchworks {name}", sub.format_help()) for name, sub in commands.choices.items()
                  if name != "status"]
        parts.append(("patchworks-status (also patchworks status)", status.parser().format_help()))
    finally:
        if width is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = width
    return "\n".join(f"## {title}\n\n```text\n{text.rstrip()}\n```\n" for title, text in parts)


def main(argv: list[str] | None = None) -> int:
    cli = parser()
    args, extra = cli.parse_known_args(argv)
    if extra and args.command != "status":  # only status passes its options on (to patchworks-status)
        cli.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return args.run(args)
    except PatchworksError as err:
        print(f"patchworks {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
