"""patchworks: segment huge OME-Zarr images tile by tile; merge labels globally and exactly."""

__version__ = "0.1.0"
