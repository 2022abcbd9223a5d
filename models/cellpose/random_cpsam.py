"""Write Cellpose-SAM weights for offline tests: the real network class of the installed Cellpose 4
(``cellpose.vit.CPSAM``, a SAM ViT-L encoder with Cellpose's readout), initialised by PyTorch's and
segment_anything's own initialisers from a fixed seed (no trained weights: those come from a model hub
that offline machines cannot reach), its state dict saved as Cellpose 4 saves it (``save_model``) and
loads it (``CellposeModel(pretrained_model=PATH)``).

    python models/cellpose/random_cpsam.py DEST [--seed 0]
"""

from __future__ import annotations

import argparse

import torch
from cellpose.vit import CPSAM


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    CPSAM().save_model(args.dest)


if __name__ == "__main__":
    main()
