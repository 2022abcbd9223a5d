"""Measurements of the final objects: per-tile partials (stage) combined into the object table."""
