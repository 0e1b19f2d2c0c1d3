"""Write CT slices again at coarser in-plane pixel sizes, for multi-resolution training.

The CT training slices have pixels of 0.6-0.9 mm; many series (and resampled research
volumes) have 1.5-3 mm. A network trained at one pixel size meets anatomy that is 2-4 times
finer per pixel at the other, and blurs it. This script resamples each DICOM slice of a
folder to each pixel size given (area-weighted: anti-aliased linear interpolation, so the
copy also has less of the slice's own noise), and writes it as a one-slice NIfTI in HU with
its new spacing. Pixels below -1024 HU (the padding outside the field of view) become air
first, so that resampling does not smear the padding into the body's edge.
``--sharp`` resamples without the anti-aliasing filter (plain linear interpolation), as many
research volumes are resampled: edges one pixel wide, and more of the slice's own noise.

    python docs/examples/ct_coarse_copies.py ../shared/data/ct/dicom /tmp/ct_coarse \
        --pixel-mm 1.5 2.5 --exclude /tmp/val_ct

``--exclude FOLDER`` leaves out the files whose names are in FOLDER (the held-out split).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from skimage.transform import resize


def coarse_copy(slice_hu: np.ndarray, pixel_mm: float, target_mm: float,
                sharp: bool = False) -> np.ndarray:
    """Resample a 2-D HU image from ``pixel_mm`` to ``target_mm`` pixels (anti-aliased
    unless ``sharp``)."""
    shape = tuple(max(8, round(n * pixel_mm / target_mm)) for n in slice_hu.shape)
    air = np.maximum(slice_hu, -1024.0)
    return resize(air, shape, order=1, anti_aliasing=not sharp, preserve_range=True)


def main() -> None:
    """Write the coarse copies of every DICOM slice in SOURCE into OUT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder of single-slice CT DICOM files")
    parser.add_argument("out", type=Path, help="new folder for the NIfTI copies")
    parser.add_argument("--pixel-mm", type=float, nargs="+", required=True,
                        help="target in-plane pixel sizes in mm")
    parser.add_argument("--exclude", type=Path, help="leave out the file names found here")
    parser.add_argument("--sharp", action="store_true",
                        help="resample without anti-aliasing (linear interpolation only)")
    args = parser.parse_args()
    excluded = {p.name for p in args.exclude.iterdir()} if args.exclude else set()
    args.out.mkdir(parents=True, exist_ok=False)
    written = 0
    for path in sorted(args.source.glob("*.dcm")):
        if path.name in excluded:
            continue
        ds = pydicom.dcmread(path)
        hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(
            ds.RescaleIntercept)
        pixel_mm = float(ds.PixelSpacing[0])
        for target in args.pixel_mm:
            if target <= pixel_mm:
                continue
            image = coarse_copy(hu, pixel_mm, target, args.sharp).astype(np.float32)
            affine = np.diag([target, target, float(getattr(ds, "SliceThickness", 1) or 1), 1])
            name = f"{path.stem}_{target:g}mm.nii.gz"
            nib.save(nib.Nifti1Image(image[:, :, None], affine), args.out / name)
            written += 1
    print(f"{written} coarse copies written to {args.out}")


if __name__ == "__main__":
    main()
