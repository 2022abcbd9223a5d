"""Microscope files (CZI, LIF, ND2, OME-TIFF, TIFF via bioio; Imaris .ims via h5py) to OME-Zarr:
lazy sources, calibration, the target layout, region-wise writing and the X/Y-only image pyramid."""
