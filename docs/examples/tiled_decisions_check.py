"""Whole-image against tile-by-tile gate decisions on images larger than a tile.

For each image (a grey PNG/JPEG, resized to ``--size`` pixels a side: full-size radiographs are
2000-3000 pixels), adds each ``--noise`` (a noise SPEC, seeded) and denoises it
with a bundle tile by tile (``--tile``), twice: with the decisions the pipeline takes on the
whole image (``Pipeline.decide``, what ``medden denoise`` does) and deciding on each tile alone
(what it did before).  Prints the gate weight of the whole image, the range of the tiles' own
weights, the PSNR of both outputs against the clean image, and the largest difference between
the two outputs (in grey levels of 255)::

    python docs/examples/tiled_decisions_check.py bundles/xray_denoise IMAGE.png --size 2048 \\
        --noise gaussian:sigma=1.75 poisson:peak=30000
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image

from medden.infer import Capabilities, Denoising
from medden.metrics import psnr
from medden.registry import noise_registry
from medden.train import load_checkpoint


def load(path: str, size: int) -> torch.Tensor:
    """The image in [0, 1], ``(1, size, size)``."""
    with Image.open(path) as image:
        grey = image.convert("L").resize((size, size), Image.LANCZOS)
    return torch.from_numpy(np.asarray(grey, np.float32) / 255.0)[None]


def tile_weights(network: torch.nn.Module, image: torch.Tensor, tile: int) -> list[float]:
    """The gate weight each ``tile``-sided tile (non-overlapping) would take on its own."""
    side = image.shape[-1] // tile * tile
    tiles = image[:, :side, :side].unfold(1, tile, tile).unfold(2, tile, tile)
    tiles = tiles.reshape(-1, 1, tile, tile)
    return network.decide(tiles)[:, 0].tolist()


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="bundle folder or checkpoint (a gated pipeline)")
    parser.add_argument("images", nargs="+", help="grey PNG/JPEG images")
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--noise", nargs="+", default=["gaussian:sigma=1.75"],
                        help="noise SPECs (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    network, _ = load_checkpoint(args.bundle)
    network.eval()
    capabilities = Capabilities.of(network)
    whole = Denoising(network, tile=args.tile, capabilities=capabilities)
    per_tile = Denoising(network, tile=args.tile, capabilities=capabilities)
    per_tile.decides_per_image = False
    print("image", "noise", "whole weight", "tile weights", "PSNR noisy", "PSNR whole",
          "PSNR per tile", "max |whole - per tile|", sep="\t")
    for path in args.images:
        clean = load(path, args.size)
        for spec in args.noise:
            generator = torch.Generator().manual_seed(args.seed)
            noisy = noise_registry.create(spec)(clean[None], generator)[0].clamp(0, 1)
            with torch.inference_mode():
                weight = float(network.decide(noisy[None])[0, 0])
                weights = tile_weights(network, noisy, args.tile)
            outputs = [d(noisy.clone()).clamp(0, 1) for d in (whole, per_tile)]
            scores = [psnr(clean.numpy(), x.numpy(), 1.0) for x in (noisy, *outputs)]
            gap = float((outputs[0] - outputs[1]).abs().max()) * 255
            print(path.rsplit("/", 1)[-1], spec, f"{weight:.2f}",
                  f"{min(weights):.2f}-{max(weights):.2f}", *[f"{s:.2f}" for s in scores],
                  f"{gap:.1f}", sep="\t", flush=True)


if __name__ == "__main__":
    main()
