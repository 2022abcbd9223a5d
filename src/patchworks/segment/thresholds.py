"""Exact comparisons of image values with a threshold, in the image's own type.

A threshold given as a float is compared with an integer image as the whole number below it
(``x > 2.5`` is ``x > 2`` for integers), so uint64 / int64 values above 2**53, which a float64
cannot tell apart, are never rounded. NaN is never above a threshold: it counts as background.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError

Threshold = int | float
EXACT_FLOAT_LIMIT = 2**53  # a float64 holds every integer up to this


def check_representable(key: str, value: Threshold, dtype: np.dtype) -> None:
    """ConfigError when a float ``value`` cannot stand exactly for the image's integer values."""
    if (isinstance(value, float) and np.issubdtype(dtype, np.integer) and math.isfinite(value)
            and abs(value) >= EXACT_FLOAT_LIMIT):
        raise ConfigError(
            f"{key}: {value!r} is a floating-point number, which cannot hold the {dtype} values of the "
            f"image exactly above 2**53; write it as a whole number (e.g. {int(value)})")


def _integer_bound(value: Threshold, dtype: np.dtype) -> int | None:
    """The whole number ``t`` with ``x > value`` == ``x > t`` for integers x; None when no value of
    ``dtype`` is above ``value``."""
    info = np.iinfo(dtype)
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, float) and math.isinf(value):
        return None if value > 0 else info.min - 1
    bound = int(value) if isinstance(value, int | np.integer) else math.floor(value)
    return None if bound >= info.max else max(bound, info.min - 1)


def above(data: np.ndarray, value: Threshold) -> np.ndarray:
    """``data > value`` in the type of ``data``: exactly for integer images; for float images as
    numpy compares an array with a Python float (the threshold rounded to the image's float type); a
    mask (bool) as its values 0 and 1."""
    if data.dtype.kind == "b":
        data = data.view(np.uint8)
    if np.issubdtype(data.dtype, np.integer):
        bound = _integer_bound(value, data.dtype)
        if bound is None:
            return np.zeros(data.shape, dtype=bool)
        if bound < np.iinfo(data.dtype).min:
            return np.ones(data.shape, dtype=bool)
        return data > np.asarray(bound, dtype=data.dtype)
    return data > np.asarray(value, dtype=data.dtype)


def peak(block: np.ndarray) -> int | float | None:
    """The block's largest value as an exact Python number (NaN ignored); None if it has none."""
    if block.size == 0:
        return None
    if np.issubdtype(block.dtype, np.floating):
        top = np.fmax.reduce(block, axis=None).item()  # fmax skips NaN, without a copy
        return None if math.isnan(top) else top
    return block.max().item()


def is_empty(block: np.ndarray, threshold: Threshold) -> bool:
    """Whether ``block`` has no value above ``threshold`` (Python compares int with float exactly)."""
    top = peak(block)
    return top is None or top <= threshold
