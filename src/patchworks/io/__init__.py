"""Reading and writing stores: OME-Zarr images, the output label image, chunk-wise and atomic writes."""
