"""Segmenting tiles: the stage step and the image-wide statistics that methods share."""
