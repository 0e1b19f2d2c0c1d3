"""Statistics that could tell magnitude (chi) noise from zero-mean noise, per noise and image set.

The MRI bundle's magnitude switch sends an image to its magnitude branch when fewer than 1 % of
its pixels are at or below zero.  Zero-mean noise on an image without background (a crop, a
phantom) has no such pixels either and goes there too.  This script prints, for each ``--noise``
SPEC over the grey images of FOLDER (optionally centre-cropped to ``--crop`` pixels; one seeded
draw per image), the range over the images of three statistics:

* ``share``: the share of pixels at or below zero (what the switch uses);
* ``zeros per block``: among the 8x8 blocks holding a pixel at or below zero, the median share of
  such pixels (clipped zero-mean noise on a zero background puts about half of a block there);
* ``dark / bright noise``: the noise in the darkest 10 % of the 8x8 blocks over that of the
  brighter half (median of each block's MAD of a high-pass residual).  A magnitude image's noise
  floor has less spread than its signal's noise (0.66 sigma for Rician, 0.74 for 8 coils), so the
  ratio is below 1 where there is a floor and about 1 for zero-mean noise of constant sigma.

``bundles/mri_denoise/docs/README.md`` ("Release 0.6.1") quotes it::

    python docs/examples/magnitude_switch_statistics.py /tmp/val_mri12 \\
        --noise gaussian:sigma=2 gaussian:sigma=15 mri_coil:coils=8,snr=10 ...
    python docs/examples/magnitude_switch_statistics.py /tmp/val_mri_all --crop 256 --noise ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from medden.registry import noise_registry

BLOCK = 8
SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}


def blocks(x: torch.Tensor) -> torch.Tensor:
    """The 8x8 blocks of a 2-D image as rows, ``(count, 64)``."""
    height, width = x.shape[0] // BLOCK * BLOCK, x.shape[1] // BLOCK * BLOCK
    tiles = x[:height, :width].reshape(height // BLOCK, BLOCK, width // BLOCK, BLOCK)
    return tiles.permute(0, 2, 1, 3).reshape(-1, BLOCK * BLOCK)


def statistics(image: torch.Tensor) -> tuple[float, float, float]:
    """``share``, ``zeros per block`` and ``dark / bright noise`` of a 2-D image."""
    zero = (image <= 0).float()
    per_block = blocks(zero).mean(dim=1)
    holding = per_block[per_block > 0]
    zeros_per_block = float(holding.median()) if holding.numel() else 0.0
    inner = image[1:-1, 1:-1]
    residual = inner - 0.25 * (image[:-2, 1:-1] + image[2:, 1:-1]
                               + image[1:-1, :-2] + image[1:-1, 2:])
    rows = blocks(residual)
    spread = 1.4826 * (rows - rows.median(dim=1, keepdim=True).values).abs().median(dim=1).values
    order = blocks(inner).mean(dim=1).argsort()
    count = order.numel()
    dark = spread[order[:max(1, count // 10)]].median()
    bright = spread[order[count // 2:]].median()
    return float(zero.mean()), zeros_per_block, float(dark / bright)


def load(path: Path, crop: int) -> torch.Tensor:
    """The grey image in [0, 1] (its centre ``crop`` square when given)."""
    with Image.open(path) as image:
        grey = torch.from_numpy(np.asarray(image.convert("L"), np.float32) / 255.0)
    if crop:
        top, left = (grey.shape[0] - crop) // 2, (grey.shape[1] - crop) // 2
        grey = grey[top:top + crop, left:left + crop]
    return grey


def main() -> None:
    """Print one row per noise."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder of grey images")
    parser.add_argument("--noise", nargs="+", required=True, help="noise SPECs")
    parser.add_argument("--crop", type=int, default=0, help="centre crop side (0: whole)")
    args = parser.parse_args()
    paths = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in SUFFIXES)
    print("noise", "share", "zeros per block", "dark / bright noise (median)", sep="\t")
    for spec in args.noise:
        noise = noise_registry.create(spec)
        rows = np.array([
            statistics(noise(load(path, args.crop)[None, None],
                             torch.Generator().manual_seed(index))[0, 0])
            for index, path in enumerate(paths)
        ])
        share, zeros, ratio = rows.T
        print(spec, f"{share.min():.4f}-{share.max():.4f}", f"{zeros.min():.2f}-{zeros.max():.2f}",
              f"{ratio.min():.2f}-{ratio.max():.2f} ({np.median(ratio):.2f})", sep="\t")


if __name__ == "__main__":
    main()
