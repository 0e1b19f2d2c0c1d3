"""The noise gate's estimate on quantum (Poisson) noise, by photon count: where the gate acts.

The prefiltered pipeline's noise gate (``clean_sigma=1.5, noisy_sigma=2.0`` on the 0-255
scale in the xray and mri bundles) keeps an image as it is when the noise it estimates
(:func:`medden_pipelines.noise_gate.tile_noise_sigma`) is at most ``clean_sigma``, denoises it
fully from ``noisy_sigma`` on, and blends in between. This prints that estimate for the images
of a folder, clean and with ``poisson:peak=N`` (N photons at white), so that the gate's levels
read as photon counts:

    python docs/examples/heldout_split.py configs/bundles/xray_denoise.yaml /tmp/val_xray \
        --first 12
    python docs/examples/gate_photons.py /tmp/val_xray --photons 300 1000 3000 10000 30000 100000
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from medden.io import read_image
from medden.registry import noise_registry
from medden_pipelines.noise_gate import tile_noise_sigma


def gate_estimate(image: torch.Tensor) -> float:
    """The gate's noise estimate of a ``(1, C, H, W)`` image in [0, 1], on the 0-255 scale."""
    return float(tile_noise_sigma(image)[0]) * 255.0


def main() -> None:
    """Print the gate's estimate (median, range over the images) per photon count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="8-bit images (PNG/JPEG)")
    parser.add_argument("--photons", type=int, nargs="+", required=True,
                        help="photon counts at white (poisson:peak=N)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    images = []
    for path in sorted(p for p in args.folder.iterdir() if p.is_file()):
        data = read_image(path).data.astype(np.float32) / 255.0
        images.append(torch.from_numpy(data)[None, :1])
    generator = torch.Generator().manual_seed(args.seed)
    print("| photons at white | gate estimate (0-255): median | min | max |")
    print("|---:|---:|---:|---:|")
    rows = [("clean", [gate_estimate(x) for x in images])]
    for photons in args.photons:
        noise = noise_registry.create(f"poisson:peak={photons}")
        rows.append((str(photons), [gate_estimate(noise(x, generator)) for x in images]))
    for label, values in rows:
        print(f"| {label} | {np.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")


if __name__ == "__main__":
    main()
