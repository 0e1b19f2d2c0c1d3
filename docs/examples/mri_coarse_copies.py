"""Write MR slices again at smaller matrix sizes, as a scanner acquires them, for
multi-resolution training.

The MRI training slices are 512² (about 0.45 mm pixels); brain MRI is more often 256² at about
1 mm (IXI, BraTS), abdominal MRI 1.5-3 mm. A network trained at one pixel size meets anatomy
that is 2-4 times finer per pixel at the others: it reads it as noise and blurs it. An MR image
of a smaller matrix is the centre of the same k-space, so each copy here is the slice's 2-D
Fourier transform cropped to the centre SIDE x SIDE (the image of a lower-resolution
acquisition, with its Gibbs ringing), taken back to the image domain and written as an 8-bit
PNG under OUT/SIDE with the slice's file name, so that a training config that splits by file
name (``data.split_by: patient`` with a pattern matching the stem) keeps every copy of a
slice on the same side of its split::

    python docs/examples/mri_coarse_copies.py ../shared/data/mri/slices /tmp/mri_coarse \\
        --sides 256 176 128
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def fourier_crop(image: np.ndarray, side: int) -> np.ndarray:
    """The centre ``side`` x ``side`` of the 2-D spectrum of ``image`` (a square, at least
    ``side`` wide), back in the image domain with the same mean intensity."""
    rows, cols = image.shape
    if rows != cols or side > rows:
        raise ValueError(f"need a square image of at least {side} pixels, got {image.shape}")
    spectrum = np.fft.fftshift(np.fft.fft2(image))
    start = (rows - side) // 2
    centre = spectrum[start:start + side, start:start + side]
    return np.fft.ifft2(np.fft.ifftshift(centre)).real * (side * side) / (rows * cols)


def main() -> None:
    """Write the copies of every image of SOURCE."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder of square gray slices")
    parser.add_argument("out", type=Path, help="new folder; one subfolder per side")
    parser.add_argument("--sides", type=int, nargs="+", required=True,
                        help="matrix sizes of the copies")
    args = parser.parse_args()
    files = sorted(p for p in args.source.iterdir()
                   if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".tif", ".tiff"})
    for side in args.sides:
        folder = args.out / str(side)
        folder.mkdir(parents=True, exist_ok=False)
        for path in files:
            with Image.open(path) as image:
                gray = np.asarray(image.convert("L"), np.float64)
            copy = np.clip(np.rint(fourier_crop(gray, side)), 0, 255).astype(np.uint8)
            Image.fromarray(copy).save(folder / f"{path.stem}.png")
        print(f"{folder}: {len(files)} images of {side}²")


if __name__ == "__main__":
    main()
