"""Unit strings as microscope files write them -> NGFF's unit names (µm -> micrometer)."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

_PREFIXES = {"a": "atto", "f": "femto", "p": "pico", "n": "nano", "µ": "micro", "μ": "micro", "u": "micro",
             "m": "milli", "c": "centi", "d": "deci", "": "", "h": "hecto", "k": "kilo", "M": "mega",
             "G": "giga", "T": "tera", "P": "peta"}
#: Spellings beyond "<SI prefix>m" and the NGFF names themselves.
_ALIASES = {"micron": "micrometer", "microns": "micrometer", "\\u00b5m": "micrometer", "mu": "micrometer",
            "å": "angstrom", "Å": "angstrom", "angstroms": "angstrom",
            "in": "inch", "inches": "inch", "ft": "foot", "feet": "foot", "yd": "yard", "mi": "mile",
            "s": "second", "sec": "second", "ms": "millisecond", "µs": "microsecond", "us": "microsecond",
            "ns": "nanosecond", "min": "minute", "h": "hour"}
#: Units that mean "not calibrated".
_NONE = {"", "pixel", "pixels", "px", "none", "unknown"}
#: NGFF's space and time units.
NGFF_UNITS = frozenset(
    [p + "meter" for p in ("atto", "femto", "pico", "nano", "micro", "milli", "centi", "deci", "", "deca",
                           "hecto", "kilo", "mega", "giga", "tera", "peta", "exa", "zetta", "yotta", "zepto",
                           "yocto")]
    + ["angstrom", "foot", "inch", "mile", "parsec", "yard"]
    + [p + "second" for p in ("atto", "femto", "pico", "nano", "micro", "milli", "centi", "deci", "",
                              "deca", "hecto", "kilo", "mega", "giga", "tera", "peta", "exa", "zetta",
                              "yotta", "zepto", "yocto")]
    + ["minute", "hour", "day"])


def ngff_unit(unit: object) -> str | None:
    """The NGFF name of ``unit`` (a string or an enum with a string value), or None when the file
    gives none, says "pixel", or names a unit NGFF does not know (logged)."""
    text = str(getattr(unit, "value", unit) if unit is not None else "").strip()
    if text.lower() in _NONE:
        return None
    for candidate in (text, text.lower()):
        if candidate in NGFF_UNITS:
            return candidate
        if candidate in _ALIASES:
            return _ALIASES[candidate]
    if text.endswith("m") and text[:-1] in _PREFIXES:
        return _PREFIXES[text[:-1]] + "meter"
    log.warning("unit %r is not an NGFF unit; the scale is kept without a unit", text)
    return None
