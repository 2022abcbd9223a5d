"""Merging per-tile labels: touching pairs across faces, the relabel table, the label pyramid."""
