"""Optional plugins: tile functions for segmentation models, OME-Zarr conversion, a napari viewer."""
