"""A GPU-style test method whose first call fails: one tile fails once, then its retry succeeds."""

import os

import numpy as np

from patchworks.methods.threshold import label_above


def label_above_failing_once(tile: np.ndarray, marker: str, **kwargs) -> np.ndarray:
    """``label_above``, except that the first call of the whole run (marked by creating ``marker``) raises."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return label_above(tile, **kwargs)
    raise RuntimeError("simulated failure on the first attempt")
