"""Medical image input/output: DICOM, NIfTI and raster formats."""
