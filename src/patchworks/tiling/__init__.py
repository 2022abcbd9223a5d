"""Tile geometry: the tile grid, and tile and overlap sizes from memory and object size."""
