"""Optional plugins: thin entries to the library for other tools (``ome_zarr``: microscope files to
OME-Zarr; ``cellpose``: Cellpose as a tile function; ``napari``: a viewer of images and labels)."""
